"""Built-in report formats: one file per plugin, each declared in pyproject.toml."""
