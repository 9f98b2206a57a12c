"""Density and coverage (Naeem, Oh, Uh, Choi & Yoo 2020, "Reliable Fidelity and Diversity Metrics
for Generative Models", ICML), checked in the tests against the authors' ``prdc`` package.

Why next to precision/recall: k-NN precision and recall (Kynkäänniemi et al. 2019) build their
manifolds from balls around *every* sample, so a few real outliers inflate the real manifold and a
few generated outliers inflate the fake one; Naeem et al. show both can then saturate or miss mode
dropping. Density counts how many real-sample neighbourhoods contain each generated sample (it
rewards samples in dense real regions, is not capped at 1, and is about 1 when the two
distributions match); coverage is the share of real samples whose neighbourhood contains at least
one generated sample (built from real balls only, so it is robust to generated outliers, and it
drops towards 0 under mode collapse).

Protocol: real X = the N samples of the evaluated ``split``, generated Y = N samples (the same N as
FID: the split's size), features from :func:`ganbench.feature_space.features` (LeNet features for
MNIST-like data, the ``fid_lenet`` space; raw coordinates for points). With
B(x, r) the open L2 ball and NND_k(X_i) the distance from X_i to its k-th nearest other real sample,
k = 5 as in the paper:

* density  = 1/(kM) * sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))]
* coverage = 1/N * sum_i 1[exists j: Y_j in B(X_i, NND_k(X_i))]

(M = N generated). Expected values for two samples of one distribution: density 1, coverage
1 - 1/2^k = 0.97 for M = N (the paper's formula, large N).

Computed here rather than by ``prdc.compute_prdc``, which also builds the fake-fake matrix for
precision/recall and hands each matrix to scikit-learn with ``n_jobs=8``: on a 2-core CPU that spent
0.47 s per evaluation of 2500 2D points, half the wall time of a 300-step ring run. In up to
``KD_TREE_MAX_DIM`` dimensions (the 2D mixtures) scipy k-d trees give the radii and count the
generated samples in each real ball (2500 points: 8 ms against 250 ms for the two float64 distance
matrices used above that, e.g. for LeNet features). The values agree with ``prdc`` to 1e-6 on both
paths (tests/test_density_coverage.py). Above N = 10,000 (two 800 MB matrices) the values are NaN with
``extra["skipped"]``; so they are below k + 2 samples, which the k-th-neighbour radius needs.
"""

from __future__ import annotations

import math

import torch

from ganbench import hookimpl
from ganbench.api import MetricValue
from ganbench.feature_space import KD_TREE_MAX_DIM, FeatureSpaceMetric

NEAREST_K = 5
MAX_SAMPLES = 10_000


class DensityCoverage(FeatureSpaceMetric):
    """Density and coverage of Naeem et al. 2020 (k = 5), in LeNet features for digits, raw values otherwise."""

    name = "density_coverage"
    paper = ("Naeem, Oh, Uh, Choi & Yoo 2020, Reliable Fidelity and Diversity Metrics for Generative "
             "Models (ICML)")

    def compute(self, ctx, split: str) -> list[MetricValue]:
        from ganbench.feature_space import features

        real, _ = ctx.reference(split)
        n_real = len(real)
        n = int(self.num_samples or n_real)
        extra = {"k": NEAREST_K, "reference_samples": n_real}

        skipped = None
        if max(n, n_real) > MAX_SAMPLES:
            skipped = (f"density and coverage need full N x N distance matrices; N = {max(n, n_real)} is "
                       f"above {MAX_SAMPLES}")
        elif min(n, n_real) < NEAREST_K + 2:
            skipped = (f"the k-th nearest neighbour (k={NEAREST_K}) needs at least {NEAREST_K + 2} "
                       f"samples per side; have {n} generated and {n_real} real")
        if skipped:
            _, extractor = features(ctx, real[:0])
            return [MetricValue(name, math.nan, True, n, split, extractor, {**extra, "skipped": skipped})
                    for name in ("density", "coverage")]

        from ganbench.feature_space import reference_side

        _, extractor = features(ctx, real[:0])
        real_side = reference_side(ctx, ("density_coverage", split, n_real, extractor, NEAREST_K),
                                   lambda: real_radii(features(ctx, real)[0], NEAREST_K))
        fake_features, _ = features(ctx, ctx.sample(n))
        res = density_and_coverage(*real_side, fake_features, NEAREST_K)
        return [MetricValue(name, res[name], True, n, split, extractor, dict(extra))
                for name in ("density", "coverage")]


def real_radii(real: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(real as float64 [N, F], NND_k of each real sample [N])``: what depends on real data only."""
    real = real.flatten(1).double()
    # the k-th nearest *other* real sample: the (k+1)-th smallest of the row, the first being itself
    if real.shape[1] <= KD_TREE_MAX_DIM:
        from scipy.spatial import cKDTree
        rows = real.numpy()
        return real, torch.from_numpy(cKDTree(rows).query(rows, k=k + 1, workers=torch.get_num_threads())[0][:, k])
    return real, torch.cdist(real, real).topk(k + 1, dim=1, largest=False).values[:, k]


def density_and_coverage(real: torch.Tensor, radii: torch.Tensor | None, fake: torch.Tensor,
                         k: int) -> dict[str, float]:
    """Density and coverage of ``fake`` [M, F] against ``real`` [N, F] (module docstring); ``radii``
    from :func:`real_radii`, or ``None`` to compute them here."""
    if radii is None:
        real, radii = real_radii(real, k)
    real, fake = real.flatten(1).double(), fake.flatten(1).double()
    if real.shape[1] <= KD_TREE_MAX_DIM:
        import numpy as np
        from scipy.spatial import cKDTree
        # the tree counts distances <= r; the next float below r makes it the paper's open ball
        inside_counts = torch.from_numpy(cKDTree(fake.numpy()).query_ball_point(
            real.numpy(), np.nextafter(radii.numpy(), 0), return_length=True,
            workers=torch.get_num_threads()))   # [N]
    else:
        inside_counts = (torch.cdist(real, fake) < radii[:, None]).sum(dim=1)   # [N]: fakes in ball i
    return {"density": float(inside_counts.sum()) / (k * fake.shape[0]),
            "coverage": float((inside_counts > 0).double().mean())}


@hookimpl
def ganbench_register_metrics(registry):
    registry.add(DensityCoverage)
