"""Density and coverage (Naeem, Oh, Uh, Choi & Yoo 2020, "Reliable Fidelity and Diversity Metrics
for Generative Models", ICML), computed by the authors' ``prdc`` package.

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
1 - 1/2^k = 0.97 for M = N (the paper's formula, large N). ``prdc`` builds full N x N distance
matrices (three of them, float32), so above N = 10,000 (1.2 GB) the values are NaN with
``extra["skipped"]``; so they are below k + 2 samples, which the k-th-neighbour radius needs.
"""

from __future__ import annotations

import contextlib
import io
import math

from ganbench import hookimpl
from ganbench.api import MetricValue
from ganbench.feature_space import FeatureSpaceMetric

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
            skipped = (f"prdc builds full N x N distance matrices; N = {max(n, n_real)} is above "
                       f"{MAX_SAMPLES}")
        elif min(n, n_real) < NEAREST_K + 2:
            skipped = (f"the k-th nearest neighbour (k={NEAREST_K}) needs at least {NEAREST_K + 2} "
                       f"samples per side; have {n} generated and {n_real} real")
        if skipped:
            _, extractor = features(ctx, real[:0])
            return [MetricValue(name, math.nan, True, n, split, extractor, {**extra, "skipped": skipped})
                    for name in ("density", "coverage")]

        import prdc

        real_features, extractor = features(ctx, real)
        fake_features, _ = features(ctx, ctx.sample(n))
        # prdc prints a "Num real/fake" line; ganbench's stdout carries data only.
        with contextlib.redirect_stdout(io.StringIO()):
            res = prdc.compute_prdc(real_features=real_features.numpy(), fake_features=fake_features.numpy(),
                                    nearest_k=NEAREST_K)
        return [MetricValue(name, float(res[name]), True, n, split, extractor, dict(extra))
                for name in ("density", "coverage")]


@hookimpl
def ganbench_register_metrics(registry):
    registry.add(DensityCoverage)
