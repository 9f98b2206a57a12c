"""Built-in datasets: one file per plugin, each declared in pyproject.toml."""
