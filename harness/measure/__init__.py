"""A measured run: its record, what its scenario expects, and its window on the host's clock."""
