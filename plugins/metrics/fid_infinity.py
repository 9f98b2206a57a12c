"""FID extrapolated to infinitely many generated samples (``fid_infinity_<space>``, lower is better).

Chong & Forsyth 2020, "Effectively Unbiased FID and Inception Score and where to find them" (CVPR).
FID estimated from N generated samples is biased upwards, and the bias depends on the generator as
well as on N: for a fixed generator, E[FID_N] is very nearly linear in 1/N,
FID_N = FID_inf + b / N. Two generators scored at one N can therefore rank the other way round
at another N (Bińkowski et al. 2018, "Demystifying MMD GANs", ICLR, showed this first). Chong &
Forsyth fit the line and report its intercept. The intercept is an *extrapolation*: it is the FID
that infinitely many generated samples would give. It is for studies that cannot afford 10k+
samples per evaluation. Without it, compare FIDs only at equal N (every ganbench FID records its
N). Our value is not comparable with Inception FID-infinity numbers in papers: the space is the one
of :func:`ganbench.feature_space.features` (LeNet features for MNIST-like data, the ``fid_lenet``
space, giving ``fid_infinity_lenet``; raw coordinates otherwise, ``fid_infinity_raw``).

Protocol, as the authors' ``score_infinity.py`` does it (``np.linspace(5000, 50000, 15)`` at 50k
samples, scaled to ours):

* reference: every sample of the evaluated ``split``, fixed for all N (their precomputed training
  statistics play this role). N_max = number of reference samples (the same N as ``fid_lenet``:
  1000 on mnist5k's test split) unless ``num_samples`` is given.
* N_max generated samples are drawn once. Grid: 15 values ``linspace(N_max/5, N_max, 15)``,
  truncated to integers like theirs. For each N, FID_N is taken between a random subset of N
  generated samples (without replacement: a prefix of a fresh permutation, numpy
  ``default_rng(SUBSET_SEED)``) and the full reference.
* FID_N = a + b / N is fitted by ordinary least squares. The value is a. ``extra`` holds
  ``slope`` (b), ``n_grid``, ``fids`` (FID_N on the grid), ``fid_at_max`` (FID_{N_max}, all
  generated samples) and ``stderr``, the standard error of a from the regression residuals. The
  authors report no error. The 15 subsets come from one pool of N_max samples, so ``stderr`` only
  says how well the points fit a line. It leaves out the sampling noise of the pool itself, and
  repeated evaluations with fresh samples scatter more than it suggests (see
  tests/test_fid_infinity.py).
* Linearity in 1/N only holds for large N, and the fit inherits what is left over. On synthetic
  Gaussians [ours], with the grid's smallest N a few times the feature dimension D, the intercept
  comes out a little low. D = 32 and N_max = 500: about -4 % of the true FID (40 pools), where
  FID_500 itself is +40 % high. D = 128 and N_max = 1000, mnist5k's setting: about -9 % (5
  pools), where FID_1000 is +76 % high. The residual bias shrinks as N_max / D grows.
* Only the generated side is extrapolated. The reference side keeps the bias of its own finite
  size, so FID_inf is comparable only between values computed against the same split (the same
  reference count). ``extra["reference_samples"]`` records that count.

FID itself: ||mu_1 - mu_2||^2 + Tr(S_1) + Tr(S_2) - 2 Tr((S_1 S_2)^(1/2)). Means and covariances
(unbiased, ``np.cov``) are in float64, and the matrix square root is ``scipy.linalg.sqrtm``, as in
pytorch-fid and the authors' code. If the square root is not finite, 1e-6 I is added to both
covariances (pytorch-fid's fallback), and the real part of the trace is taken. torch-fidelity uses
the same formula but takes the trace as sum(sqrt(eigvals(S_1 S_2))). The test checks that both
agree to 1e-6.

NaN with ``extra["skipped"]`` when N_max < 50 (15 grid points need distinct integer N), when the
split has fewer than 2 samples, or when the fit is degenerate (a non-finite FID_N). When the
smallest grid N or the reference count is at most the feature dimension, the covariances are
singular and ``extra["rank_deficient"]`` is set. The fit still holds, but FID_N then grows steeply.
Cost: 15 square roots of D x D matrices (D = 128 for LeNet, 2 for points) and one feature pass over
N_max generated and the reference samples.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ganbench import hookimpl
from ganbench.api import MetricValue
from ganbench.feature_space import FeatureSpaceMetric

GRID_POINTS = 15     # score_infinity.py's num_points
GRID_LOW = 0.2       # the grid starts at N_max / 5 (5000 of 50000 in score_infinity.py)
MIN_SAMPLES = 50     # below this the grid cannot hold 15 distinct integers from N_max / 5 up
SUBSET_SEED = 0
SQRTM_EPS = 1e-6     # pytorch-fid's offset when the square root is not finite


def gaussian_stats(x) -> tuple[np.ndarray, np.ndarray]:
    """``(mean [D], covariance [D, D])`` of features ``x`` [N, D], float64, covariance with N - 1."""
    x = np.asarray(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need features [N >= 2, D], got shape {x.shape}")
    return x.mean(0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_from_stats(mu1, sigma1, mu2, sigma2) -> float:
    """The Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), via ``scipy.linalg.sqrtm``."""
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(sigma1)) * SQRTM_EPS
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    tr_covmean = float(np.trace(covmean).real)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def frechet_distance(x, y) -> float:
    """FID between feature sets ``x`` [N, D] and ``y`` [M, D]."""
    return frechet_from_stats(*gaussian_stats(x), *gaussian_stats(y))


def n_grid(n_max: int, points: int = GRID_POINTS) -> list[int]:
    """``linspace(n_max / 5, n_max, points)`` truncated to integers, as ``score_infinity.py`` does."""
    return [int(n) for n in np.linspace(GRID_LOW * n_max, n_max, points).astype(np.int64)]


def fit_intercept(ns, fids) -> tuple[float, float, float]:
    """OLS fit of ``fids = a + b / ns``: ``(a, b, standard error of a)``. The standard error is
    sqrt(s^2 * sum(x^2) / (n * Sxx)) with x = 1/N and s^2 = RSS / (n - 2). It is NaN when there
    are fewer than 3 points or only one distinct N."""
    x = 1.0 / np.asarray(ns, dtype=np.float64)
    y = np.asarray(fids, dtype=np.float64)
    n = len(x)
    sxx = float(((x - x.mean()) ** 2).sum()) if n else 0.0
    if n < 3 or not sxx > 0 or not np.isfinite(y).all():
        return math.nan, math.nan, math.nan
    b = float(((x - x.mean()) * (y - y.mean())).sum() / sxx)
    a = float(y.mean() - b * x.mean())
    rss = float(((y - a - b * x) ** 2).sum())
    stderr = math.sqrt(rss / (n - 2) * float((x ** 2).sum()) / (n * sxx))
    return a, b, stderr


def fid_infinity(generated, reference, grid=None, seed: int = SUBSET_SEED) -> dict:
    """FID_inf of generated features [N_max, D] against reference features [M, D] (or their
    ``(mean, covariance)``).

    Returns ``{"value", "slope", "stderr", "n_grid", "fids", "fid_at_max"}``. ``value`` is NaN
    (with ``"skipped"``) if the fit is degenerate. ``grid`` defaults to :func:`n_grid` of N_max.
    Each N uses the first N rows of a fresh permutation of ``generated``.
    """
    g = np.asarray(generated.detach().cpu().numpy() if isinstance(generated, torch.Tensor) else generated,
                   dtype=np.float64)
    mu_r, sigma_r = reference if isinstance(reference, tuple) else gaussian_stats(reference)
    grid = n_grid(len(g)) if grid is None else [int(n) for n in grid]
    if max(grid) > len(g):
        raise ValueError(f"grid goes up to N = {max(grid)} but there are only {len(g)} generated samples")
    rng = np.random.default_rng(seed)
    fids = []
    for n in grid:
        subset = g[rng.permutation(len(g))[:n]]
        fids.append(frechet_from_stats(*gaussian_stats(subset), mu_r, sigma_r))
    a, b, stderr = fit_intercept(grid, fids)
    out = {"value": a, "slope": b, "stderr": stderr, "n_grid": grid, "fids": fids,
           "fid_at_max": fids[grid.index(max(grid))]}
    if math.isnan(a):
        out["skipped"] = f"degenerate fit of FID_N = a + b/N over N = {grid}: FID_N = {fids}"
    return out


def value_name(extractor: str) -> str:
    """``fid_infinity_lenet`` for ``lenet-<dataset>-<hash>``, ``fid_infinity_raw`` for ``raw``."""
    return f"fid_infinity_{extractor.split('-', 1)[0]}"


class FidInfinity(FeatureSpaceMetric):
    """FID extrapolated to infinitely many generated samples (Chong & Forsyth 2020), in feature_space."""

    name = "fid_infinity"
    paper = ("Chong & Forsyth 2020, Effectively Unbiased FID and Inception Score and where to find them "
             "(CVPR); FID: Heusel et al. 2017; N-dependent bias: Bińkowski et al. 2018")
    ranks = {"fid_infinity_*": 4}

    def compute(self, ctx, split: str) -> list[MetricValue]:
        from ganbench.feature_space import features

        real, _ = ctx.reference(split)
        n_ref = len(real)
        n_max = int(self.num_samples or n_ref)
        base = {"reference_samples": n_ref, "grid_points": GRID_POINTS, "subset_seed": SUBSET_SEED}

        skipped = None
        if n_ref < 2:
            skipped = f"needs at least 2 real samples in split {split!r} for a covariance; it has {n_ref}"
        elif n_max < MIN_SAMPLES:
            skipped = (f"needs N_max >= {MIN_SAMPLES} for a grid of {GRID_POINTS} distinct N from N_max/5; "
                       f"N_max = {n_max}")
        if skipped:
            _, extractor = features(ctx, real[:0])
            return [MetricValue(value_name(extractor), math.nan, False, n_max, split, extractor,
                                {**base, "skipped": skipped})]

        real_features, extractor = features(ctx, real)
        generated, _ = features(ctx, ctx.sample(n_max))
        result = fid_infinity(generated, gaussian_stats(real_features))
        extra = {**base, **{k: v for k, v in result.items() if k != "value"}}
        dim = real_features.shape[1]
        if min(result["n_grid"]) <= dim or n_ref <= dim:
            extra["rank_deficient"] = True
        return [MetricValue(value_name(extractor), result["value"], False, n_max, split, extractor, extra)]


@hookimpl
def ganbench_register_metrics(registry):
    registry.add(FidInfinity)
