"""The lab's configuration: lab.toml rendered to lab.json, the facts both sides share, timings, budgets."""
