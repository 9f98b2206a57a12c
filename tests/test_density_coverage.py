"""Density and coverage (Naeem et al. 2020, k = 5) through the prdc package, checked against an
independent computation of the paper's formulas, and on real mnist5k digits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.spatial.distance
import torch

from ganbench import plugins
from ganbench.api import DataInfo, Dataset
from ganbench.evaluation import SamplingContext
from ganbench_plugins.datasets.mnist5k import Mnist5k


@pytest.fixture(scope="module")
def metric_cls():
    """The plugin as the host loads it, through its entry point."""
    return plugins.load().metrics.get("density_coverage")


def by_name(values):
    return {v.name: v for v in values}


class Features(Dataset):
    """Fixed vectors as a "points" dataset: feature_space passes them through unchanged (raw)."""

    name = "features_test"

    def __init__(self, real: torch.Tensor):
        super().__init__()
        self.real = real
        self.info = DataInfo(shape=(real.shape[1],), kind="points")

    def load(self, split):
        return self.real, None


def naeem_density_coverage(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """The paper's definitions, written out: real X (N), fake Y (M), open balls B(X_i, NND_k(X_i))."""
    real, fake = real.astype(np.float64), fake.astype(np.float64)
    rr = scipy.spatial.distance.cdist(real, real)
    radius = np.sort(rr, axis=1)[:, k]  # column 0 is X_i itself (distance 0)
    inside = scipy.spatial.distance.cdist(real, fake) < radius[:, None]  # [N, M]: Y_j in B(X_i)
    density = inside.sum() / (k * len(fake))
    coverage = inside.any(axis=1).mean()
    return float(density), float(coverage)


def test_matches_the_papers_formulas_on_fixed_features(metric_cls, capsys):
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(300, 8, generator=gen)
    fake = 0.7 * torch.randn(300, 8, generator=gen) + 0.3  # narrower and shifted: density != 1
    ctx = SamplingContext(lambda n, g: (fake[:n], None), Features(real), Features(real).info, seed=0)
    v = by_name(metric_cls().compute(ctx, "test"))
    density, coverage = naeem_density_coverage(real.numpy(), fake.numpy(), k=5)
    assert v["density"].value == pytest.approx(density, abs=1e-6)
    assert v["coverage"].value == pytest.approx(coverage, abs=1e-6)
    assert 0.05 < coverage < 0.95 and abs(density - 1) > 0.05  # a case that can tell the formulas apart
    for x in v.values():
        assert x.higher_is_better and x.num_samples == 300 and x.reference_split == "test"
        assert x.extractor == "raw" and x.extra["k"] == 5
    assert capsys.readouterr().out == ""  # prdc's "Num real" line stays off ganbench's stdout


def digits_ctx(sample_fn, cache_dir) -> SamplingContext:
    return SamplingContext(sample_fn, Mnist5k(), Mnist5k.info, seed=0, cache_dir=str(cache_dir))


def test_heldout_digits_score_as_real_and_collapse_loses_coverage(metric_cls, evaluator, evaluator_cache):
    val, _ = Mnist5k().load("val")
    train, _ = Mnist5k().load("train")
    real = by_name(metric_cls().compute(digits_ctx(lambda n, g: (val[:n], None), evaluator_cache), "test"))
    # Two samples of one distribution: density about 1, coverage about 1 - 1/2^5 = 0.97.
    assert 0.8 < real["density"].value < 1.2
    assert real["coverage"].value > 0.9
    assert real["density"].extractor == evaluator.name and real["density"].num_samples == 1000
    one = train[:1]
    collapsed = by_name(metric_cls().compute(
        digits_ctx(lambda n, g: (one.expand(n, -1, -1, -1).clone(), None), evaluator_cache), "test"))
    assert collapsed["coverage"].value < 0.05


def test_too_many_or_too_few_samples_are_skipped_with_a_reason(metric_cls):
    def no_sampling(n, g):
        raise AssertionError("sampled although the metric is skipped")

    for n, why in ((10_001, "N x N"), (6, "at least 7")):
        ds = Features(torch.zeros(n, 2))
        values = metric_cls().compute(SamplingContext(no_sampling, ds, ds.info, seed=0), "test")
        assert [v.name for v in values] == ["density", "coverage"]
        for v in values:
            assert math.isnan(v.value) and why in v.extra["skipped"] and v.extractor == "raw"


@pytest.mark.parametrize("dim, n_real, n_fake, shift", [(2, 400, 400, 0.2), (8, 300, 500, 0.2), (64, 250, 200, 0.6)])
def test_agrees_with_the_authors_prdc_package(dim, n_real, n_fake, shift):
    """The reference implementation (Naeem et al.'s ``prdc``), on fixed features, to 1e-6."""
    import contextlib
    import io

    import prdc

    from ganbench_plugins.metrics.density_coverage import density_and_coverage
    gen = torch.Generator().manual_seed(dim)
    real = torch.randn(n_real, dim, generator=gen, dtype=torch.float64)
    fake = 0.8 * torch.randn(n_fake, dim, generator=gen, dtype=torch.float64) + shift
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints a "Num real/fake" line
        ref = prdc.compute_prdc(real_features=real.numpy(), fake_features=fake.numpy(), nearest_k=5)
    ours = density_and_coverage(real, None, fake, 5)
    assert ours["density"] == pytest.approx(ref["density"], abs=1e-6)
    assert ours["coverage"] == pytest.approx(ref["coverage"], abs=1e-6)
    assert 0.05 < ours["coverage"] < 0.999


@pytest.mark.parametrize("dim", [2, 64])
def test_balls_are_open_on_both_paths(dim):
    """Generated samples that are the real ones: each ball holds its centre and its k - 1 nearer
    neighbours, not the k-th neighbour on its boundary (the paper's open ball), so density is
    exactly 1 and coverage 1, on the k-d tree path (2D) and the distance-matrix path (64D) alike."""
    from ganbench_plugins.metrics.density_coverage import density_and_coverage
    real = torch.randn(300, dim, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert density_and_coverage(real, None, real.clone(), 5) == {"density": 1.0, "coverage": 1.0}
