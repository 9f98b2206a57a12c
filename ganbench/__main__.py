"""``python -m ganbench`` is the ``ganbench`` command."""

from ganbench.cli import main

main()
