"""Built-in metrics: one file per plugin, each declared in pyproject.toml."""
