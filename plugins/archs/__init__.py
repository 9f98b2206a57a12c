"""Built-in archs: one file per plugin, each declared in pyproject.toml."""
