"""Judging a run from its record alone, and reporting it (JSON, PNG, the session's Markdown summary)."""
