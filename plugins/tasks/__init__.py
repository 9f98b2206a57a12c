"""Built-in benchmark tasks: one file per plugin, each declared in pyproject.toml."""
