"""Where ganbench keeps things on disk.

* ``cache_dir()``: trained evaluators, reference statistics, decoded embedded data. ``$GANBENCH_CACHE``
  or ``~/.cache/ganbench``. Everything in it is keyed by content hashes and can be deleted at any time.
* ``data_root()``: downloaded datasets (torchvision layout). ``$GANBENCH_DATA`` or ``~/.cache/ganbench/data``.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    path = Path(os.environ.get("GANBENCH_CACHE") or Path.home() / ".cache" / "ganbench")
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_root() -> Path:
    return Path(os.environ.get("GANBENCH_DATA") or cache_dir() / "data")
