"""Built-in losses: one file per plugin, each declared in pyproject.toml."""
