"""Built-in techniques: one file per plugin, each declared in pyproject.toml."""
