"""fid_infinity (Chong & Forsyth 2020): the N-bias it removes, the FID formula, and one end-to-end run.

Most checks use synthetic Gaussian features and the plugin's pure functions, so they need no
training and no evaluator. The one end-to-end run is on ring8 (raw 2D points).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganbench import plugins
from ganbench.evaluation import SamplingContext
from ganbench_plugins.datasets.ring8 import Ring8
from ganbench_plugins.metrics import fid_infinity as fi

D = 32
MU_G = np.zeros(D)
MU_G[0] = 1.0
SCALE = np.linspace(0.8, 1.2, D)    # generated: N(MU_G, diag(SCALE^2)); real: N(0, I)
TRUE_FID = float(MU_G @ MU_G + ((SCALE - 1) ** 2).sum())  # closed form for commuting covariances
POOLS = 8


def pool(n: int, seed: int) -> np.ndarray:
    return MU_G + np.random.default_rng(seed).standard_normal((n, D)) * SCALE


def test_fid_n_is_biased_and_fid_infinity_removes_the_bias():
    """FID_500 is well above FID_2000 for the same two distributions. FID_inf from a 500-sample grid
    and from a 2000-sample grid agree, and both are close to the true FID.

    We average over POOLS independent pools, because the fit's ``stderr`` understates the
    pool-to-pool spread. It measures how far the 15 points lie from a line, but they all come from
    one pool. Measured on these pools: FID_inf has a standard deviation across pools of 0.075 at
    500 and 0.042 at 2000, against a mean ``stderr`` of 0.049 and 0.024. So agreement is checked
    against the empirical standard error of the means.
    """
    reference = fi.gaussian_stats(np.random.default_rng(1).standard_normal((20_000, D)))  # the "split"
    population = (np.zeros(D), np.eye(D))
    rows = []
    for s in range(POOLS):
        small = fi.fid_infinity(pool(500, 100 + s), reference)
        large = fi.fid_infinity(pool(2000, 200 + s), reference)
        exact = fi.fid_infinity(pool(2000, 200 + s), population)
        assert small["n_grid"] == fi.n_grid(500) and len(small["n_grid"]) == 15 and small["n_grid"][0] == 100
        assert small["stderr"] > 0 and large["stderr"] > 0 and small["slope"] > 0 and large["slope"] > 0
        rows.append([small["fid_at_max"], large["fid_at_max"], small["value"], large["value"],
                     exact["value"]])
    x = np.array(rows)
    mean, sem = x.mean(0), x.std(0, ddof=1) / math.sqrt(POOLS)
    fid500, fid2000, inf500, inf2000, inf_exact = mean

    # The bias: FID_N drops by a third of the true FID from N = 500 to N = 2000, in every pool.
    assert (x[:, 0] > x[:, 1]).all()
    assert fid500 - fid2000 > 0.2 * TRUE_FID and fid500 - fid2000 > 5 * math.hypot(sem[0], sem[1])
    # FID_inf barely depends on N: within 3 combined standard errors, and within 10 % of the FID,
    # where the naive values differ by about 30 %. 10 %, not less: at N_max = 500 (grid from
    # N = 100 = 3 D) the fit itself runs about 4 % low (measured over 40 pools; see the module
    # docstring), and this 8-pool mean adds its own noise (here 1.414 against 1.487).
    assert abs(inf500 - inf2000) < 3 * math.hypot(sem[2], sem[3])
    assert abs(inf500 - inf2000) < 0.10 * TRUE_FID
    # Against the population itself, the intercept is the true FID.
    assert abs(inf_exact - TRUE_FID) < max(3 * sem[4], 0.03 * TRUE_FID)


def test_frechet_distance_matches_torch_fidelity_and_a_direct_computation():
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric

    rng = np.random.default_rng(0)
    mix = rng.standard_normal((16, 16))
    x = rng.standard_normal((300, 16)) @ mix
    y = 0.5 + rng.standard_normal((400, 16)) @ (mix + 0.3 * rng.standard_normal((16, 16)))
    ours = fi.frechet_distance(torch.from_numpy(x).float(), torch.from_numpy(y).float())

    # torch-fidelity 0.4.0's own FID on the same (float32) features, its statistics in float64.
    xt, yt = torch.from_numpy(x).float().double(), torch.from_numpy(y).float().double()
    theirs = fid_statistics_to_metric(fid_features_to_statistics(xt), fid_features_to_statistics(yt),
                                      verbose=False)[KEY_METRIC_FID]
    # Directly: Tr((S1 S2)^(1/2)) = Tr((S1^(1/2) S2 S1^(1/2))^(1/2)), a symmetric PSD matrix (eigh only).
    xf, yf = xt.numpy(), yt.numpy()
    m1, m2 = xf.mean(0), yf.mean(0)
    s1, s2 = np.cov(xf, rowvar=False), np.cov(yf, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
    tr_covmean = np.sqrt(np.clip(inner, 0, None)).sum()
    direct = float((m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)

    assert ours > 1.0
    assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-6)
    assert ours == pytest.approx(direct, rel=1e-6, abs=1e-6)
    assert fi.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)


def test_fit_recovers_an_exact_line_and_flags_degenerate_fits():
    ns = fi.n_grid(1000)
    assert ns[0] == 200 and ns[-1] == 1000 and len(set(ns)) == 15
    a, b, stderr = fi.fit_intercept(ns, [3.0 + 250.0 / n for n in ns])
    assert a == pytest.approx(3.0, abs=1e-9) and b == pytest.approx(250.0, rel=1e-9) and stderr < 1e-9
    assert all(math.isnan(v) for v in fi.fit_intercept([100, 100, 100], [1.0, 2.0, 3.0]))
    assert all(math.isnan(v) for v in fi.fit_intercept(ns, [math.nan] + [1.0] * 14))
    assert all(math.isnan(v) for v in fi.fit_intercept([100, 200], [1.0, 2.0]))


@pytest.fixture(scope="module")
def metric_cls():
    """The plugin as the host loads it, through its entry point."""
    return plugins.load().metrics.get("fid_infinity")


def test_end_to_end_on_ring8_points(metric_cls):
    val, _ = Ring8().load("val")

    def sample_fn(n, gen):  # held-out real points, jittered: a near-perfect "generator"
        x = val[torch.randperm(len(val), generator=gen)[:n]]
        return x + 0.01 * torch.randn(x.shape, generator=gen), None

    ctx = SamplingContext(sample_fn, Ring8(), Ring8.info, seed=0)
    (v,) = metric_cls().compute(ctx, "test")
    n_test = Ring8.sizes["test"]
    assert v.name == "fid_infinity_raw" and v.extractor == "raw" and v.higher_is_better is False
    assert v.num_samples == n_test and v.reference_split == "test" and v.extra["reference_samples"] == n_test
    assert math.isfinite(v.value) and abs(v.value) < 0.01 and "skipped" not in v.extra
    assert v.extra["n_grid"] == fi.n_grid(n_test) and math.isfinite(v.extra["stderr"])
    assert math.isfinite(v.extra["fid_at_max"]) and "rank_deficient" not in v.extra


def test_too_few_samples_is_skipped_with_a_reason(metric_cls):
    def sample_fn(n, gen):
        return torch.randn(n, 2, generator=gen), None

    ctx = SamplingContext(sample_fn, Ring8(), Ring8.info, seed=0)
    (v,) = metric_cls(num_samples=49).compute(ctx, "test")
    assert math.isnan(v.value) and "N_max >= 50" in v.extra["skipped"]
    assert v.name == "fid_infinity_raw" and v.num_samples == 49
