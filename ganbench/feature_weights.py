"""Where pretrained feature-extractor weights are on this machine, found without any network access.

Used by the ``inception_fidelity``, ``dinov2_fidelity`` and ``clip_fidelity`` metrics (their
``availability()``) and by ``ganbench doctor``. Weights come from an environment variable or
from the file a library's downloader would have left in its cache. Nothing here downloads, and
torch is not imported, so ``ganbench list`` and ``ganbench doctor`` stay fast.
"""

from __future__ import annotations

import os
from pathlib import Path


def torch_home() -> Path:
    """``$TORCH_HOME``, else ``$XDG_CACHE_HOME/torch``, else ``~/.cache/torch`` (torch.hub's rule)."""
    env = os.environ.get("TORCH_HOME")
    if env:
        return Path(os.path.expanduser(env))
    return Path(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")) / "torch"


def hub_checkpoints_dir() -> Path:
    """Where ``torch.hub.load_state_dict_from_url`` stores downloads."""
    return torch_home() / "hub" / "checkpoints"


def find_weights(env_var: str, candidates: list[Path], what: str, file_hint: str,
                 url: str | None = None) -> tuple[str | None, str]:
    """``(path, "")`` for the first weights file found, else ``(None, reason)`` in one line.

    ``$env_var``, when set, is the only place looked at (a wrong path is an error, not a fallback).
    Otherwise the ``candidates`` are checked in order; the reason names the env var, the first
    candidate, and ``url`` if given (where to download the file by hand).
    """
    env = os.environ.get(env_var)
    if env:
        if Path(env).is_file():
            return env, ""
        return None, f"${env_var} points at {env}, which is not a file"
    for path in candidates:
        if path.is_file():
            return str(path), ""
    source = f" (from {url})" if url else ""
    return None, (f"{what} weights not found: set ${env_var} to a copy of {file_hint}{source} "
                  f"or place it at {candidates[0]}; ganbench never downloads them")
