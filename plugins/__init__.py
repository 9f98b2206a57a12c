"""ganbench's built-in plugins, installed as the package `ganbench_plugins`.

Each file is one plugin, declared as its own entry point in the `ganbench` group of pyproject.toml,
exactly as a third-party package would declare it.
"""
