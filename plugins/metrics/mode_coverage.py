"""Modes captured, % high-quality samples and reverse KL on 2D Gaussian mixtures (ring8, grid25).

Protocol: VEEGAN (Srivastava et al. 2017, Table 1) and PacGAN (Lin et al. 2018, Table 1), as coded in
PacGAN's ``synthetic_data_experiments/PacGAN/pacgan/extensions.py:MetricLogger`` (metrics-protocols.md
§3.1). On 2500 generated points:

* a sample is high quality (HQ) when it lies within 3 standard deviations of its nearest mode,
  ``sqrt(sum(d^2 / sigma^2)) < 3``;
* a mode is captured when it is the nearest mode of at least one HQ sample;
* ``hq_percent`` = 100 * HQ samples / all samples;
* ``reverse_kl`` = KL(p_hat || uniform over the K modes) = log K - H(p_hat), where p_hat is the
  histogram of HQ samples over their nearest modes. Only HQ samples count: PacGAN's MetricLogger
  builds its coverage histogram (``detail_of_coverage``) from HQ samples alone and takes its entropy,
  and so do we. If no sample is HQ the histogram is empty: reverse_kl is NaN with a reason.

Sanity values [ours]: real data gives all K modes and 1 - exp(-4.5) = 98.9 % HQ (the chi distribution
with 2 degrees of freedom); all mass at one mode gives 1 mode and reverse_kl = log K.

Reads the dataset's class attributes ``modes`` ([K, 2] tensor) and ``mode_std`` (float or [K]).
"""

from __future__ import annotations

import math

import torch

from ganbench import hookimpl
from ganbench.api import DataInfo, Metric, MetricValue

NUM_SAMPLES = 2500
HQ_THRESHOLD = 3.0


def kl_to_uniform(counts: torch.Tensor) -> float:
    """KL(counts / sum || uniform) = log K - H; NaN for an empty histogram."""
    total = counts.sum()
    if total <= 0:
        return math.nan
    p = counts.double() / total
    p = p[p > 0]
    return float(math.log(len(counts)) + (p * p.log()).sum())


def mode_statistics(x: torch.Tensor, modes: torch.Tensor, std, threshold: float = HQ_THRESHOLD) -> dict:
    """``{"modes", "hq_percent", "reverse_kl", "counts"}`` of points ``x`` [N, D] against ``modes`` [K, D]."""
    x, modes = x.double(), torch.as_tensor(modes).double()
    std = torch.as_tensor(std, dtype=torch.float64)
    dist = torch.cdist(x, modes)  # [N, K]
    if std.dim() == 0:
        scaled, nearest = (dist / std).min(1)
    else:  # one std per mode: nearest in the scaled distance, as PacGAN does
        scaled, nearest = (dist / std.view(1, -1)).min(1)
    hq = scaled < threshold
    counts = torch.bincount(nearest[hq], minlength=len(modes))
    return {"modes": int((counts > 0).sum()), "hq_percent": 100.0 * float(hq.double().mean()),
            "reverse_kl": kl_to_uniform(counts), "counts": counts}


class ModeCoverage(Metric):
    """Modes captured, % high-quality samples and reverse KL on 2D mixtures (VEEGAN/PacGAN protocol)."""

    name = "mode_coverage"
    paper = "Srivastava et al. 2017 (VEEGAN), Table 1; Lin et al. 2018 (PacGAN), Table 1"
    ranks = {"modes": 2}
    mode_collapse = ("modes", "hq_percent", "reverse_kl")
    counts_modes = ("modes",)

    def __init__(self, num_samples: int = NUM_SAMPLES):
        self.num_samples = num_samples

    @classmethod
    def supports(cls, data: DataInfo, dataset_name: str) -> str | None:
        # The DataInfo cannot say whether the dataset class has `modes`; compute() checks that.
        if data.kind != "points" or data.num_modes <= 0:
            return f"needs a 2D mixture with known modes (ring8, grid25); {dataset_name} is not one"
        return None

    def compute(self, ctx, split: str) -> list[MetricValue]:
        modes = getattr(ctx.dataset, "modes", None)
        std = getattr(ctx.dataset, "mode_std", None)
        if modes is None or std is None:
            raise ValueError(f"dataset {ctx.dataset.name!r} has no `modes`/`mode_std` attributes")
        stats = mode_statistics(ctx.sample(self.num_samples), modes, std)
        k, n = len(modes), self.num_samples
        kl_extra = {"num_modes": k, "hq_only": True}
        if math.isnan(stats["reverse_kl"]):
            kl_extra["skipped"] = "no high-quality samples: the mode histogram is empty"
        return [
            MetricValue("modes", float(stats["modes"]), True, n, "", extra={"num_modes": k}),
            MetricValue("hq_percent", stats["hq_percent"], True, n, "", extra={"threshold_std": HQ_THRESHOLD}),
            MetricValue("reverse_kl", stats["reverse_kl"], False, n, "", extra=kl_extra),
        ]


@hookimpl
def ganbench_register_metrics(registry):
    registry.add(ModeCoverage)
