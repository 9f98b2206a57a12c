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

import torch

from ganbench.api import DataInfo, EvaluationContext, Metric

RAW = "raw"


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
