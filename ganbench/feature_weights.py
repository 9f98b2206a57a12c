"""Where pretrained feature-extractor weights are on this machine, found without any network access.

Used by the ``inception_fidelity``, ``dinov2_fidelity`` and ``clip_fidelity`` metrics (their
``availability()``) and by ``ganbench doctor``. Weights come from an environment variable or
from the file a library's downloader would have left in its cache. Nothing here downloads, and
torch is not imported, so ``ganbench list`` and ``ganbench doctor`` stay fast.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from ganbench.api import DataInfo, Metric, MetricValue


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


class PretrainedFidelity(Metric):
    """Base of the FID-family metrics on a pretrained network (Inception, DINOv2, CLIP) whose weights
    must already be on disk: one rule for availability, supported data and the call into
    :func:`ganbench.fidelity.fidelity_metrics`. A subclass says where its weights are
    (:meth:`weights`) and how to call torch-fidelity with them (:meth:`fidelity_options`)."""

    def __init__(self, num_samples: int | None = None, max_reference: int | None = 10000):
        self.num_samples = num_samples
        self.max_reference = max_reference

    @staticmethod
    def weights() -> tuple[str | None, str]:
        """``(path, "")`` if the weights are on disk, else ``(None, how to get them)``. Never downloads."""
        raise NotImplementedError

    @classmethod
    def availability(cls) -> str | None:
        path, reason = cls.weights()
        return None if path else reason

    @classmethod
    def supports(cls, data: DataInfo, dataset_name: str) -> str | None:
        if not data.is_image or len(data.shape) != 3 or data.shape[0] not in (1, 3):
            return f"needs grey or RGB images, {dataset_name} has shape {tuple(data.shape)}"
        return cls.availability()

    def fidelity_options(self, path: str, sha256: str) -> dict[str, Any]:
        """Keyword arguments for ``fidelity_metrics`` (extractor, key, labels, feature_dim, ...)."""
        raise NotImplementedError

    def loading(self) -> contextlib.AbstractContextManager:
        """A context the computation runs in (CLIP silences a TorchScript deprecation warning)."""
        return contextlib.nullcontext()

    def compute(self, ctx, split: str) -> list[MetricValue]:
        from ganbench.fidelity import fidelity_metrics, file_sha256, to_uint8_rgb

        path, reason = self.weights()
        if path is None:
            raise RuntimeError(reason)
        with self.loading():
            return fidelity_metrics(ctx, split, convert=to_uint8_rgb, num_samples=self.num_samples,
                                    max_reference=self.max_reference, weights_path=path,
                                    **self.fidelity_options(path, file_sha256(path)))
