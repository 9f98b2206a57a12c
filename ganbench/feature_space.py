"""The feature space in which distance-based metrics compare generated and real samples.

Memorization, density and coverage all measure L2 distances between samples, and a distance means
only as much as the space it is taken in. Pixels are a poor space for digits (a digit shifted by
one pixel is far from itself), so MNIST-like data (1x28x28 images with 10 classes) is compared in
the penultimate features of ganbench's own LeNet evaluator, the space ``fid_lenet`` uses. Naeem et
al. 2020 likewise measure in a classifier's features, and Meehan et al. 2020 test MNIST for
data-copying in an autoencoder's latent space rather than in pixels. Everything else is compared in
its raw values, flattened: for the 2D mixtures those are the protocol's own coordinates, in which
the modes and their standard deviations are defined, and no trained extractor is needed.

Every value records the extractor name returned here, so numbers from different spaces are never
mixed in one column.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

import torch

from ganbench.api import DataInfo, EvaluationContext, Metric

RAW = "raw"
# Up to this many feature dimensions (the 2D mixtures) distance metrics find neighbours with scipy k-d
# trees; above it (LeNet features) brute-force float64 distances are faster.
KD_TREE_MAX_DIM = 8
# What distance metrics compute from real data alone, per process; least recently used dropped first.
_REFERENCE_SIDES: OrderedDict = OrderedDict()
REFERENCE_SIDES_KEPT = 8


def reference_side(ctx: EvaluationContext, key: tuple, build: Callable[[], Any]) -> Any:
    """``build()``, once per process for ``key`` and the content of ``ctx``'s dataset: the part of a
    metric that depends on real data only (training-set cells, the radii of real samples), which
    every evaluation of every run of that dataset would otherwise recompute. ``key`` must name all
    else it depends on (split, N, extractor, parameters)."""
    from ganbench.evaluation import dataset_fingerprint
    full = (ctx.dataset.name, dataset_fingerprint(ctx), *key)
    if full not in _REFERENCE_SIDES:
        _REFERENCE_SIDES[full] = build()
        while len(_REFERENCE_SIDES) > REFERENCE_SIDES_KEPT:
            _REFERENCE_SIDES.popitem(last=False)
    _REFERENCE_SIDES.move_to_end(full)
    return _REFERENCE_SIDES[full]


def clear_reference_sides() -> None:
    """Forget every memoised reference side (tests use it to time or check a cold computation)."""
    _REFERENCE_SIDES.clear()


def features(ctx: EvaluationContext, x: torch.Tensor) -> tuple[torch.Tensor, str]:
    """``(features [N, D] float32 on the CPU, extractor name)`` of samples ``x`` of ``ctx``'s dataset.

    ``x`` may be empty (``features(ctx, x[:0])`` names the extractor without running it on data).
    """
    data = ctx.data
    if data.is_image and tuple(data.shape) == (1, 28, 28) and data.num_classes == 10:
        from ganbench.evaluation import dataset_fingerprint
        from ganbench.evaluators import get_evaluator

        evaluator = get_evaluator(ctx.dataset, fingerprint=dataset_fingerprint(ctx))
        if len(x) == 0:
            return torch.zeros(0, evaluator.meta["config"]["hidden"]), evaluator.name
        return evaluator.features(x).float().cpu(), evaluator.name
    return x.detach().flatten(1).float().cpu(), RAW


class FeatureSpaceMetric(Metric):
    """Base of the metrics computed in :func:`features`' space (memorisation, density/coverage, FID∞):
    they apply to any image or point data, and ``num_samples`` overrides their default N."""

    def __init__(self, num_samples: int | None = None):
        self.num_samples = num_samples

    @classmethod
    def supports(cls, data: DataInfo, dataset_name: str) -> str | None:
        if data.kind not in ("image", "points"):
            return f"needs images or points; {dataset_name} is {data.kind!r} data"
        return None
