"""KID's standard error against the spread of the estimate itself over independent samples."""

import math

import numpy as np
import pytest
import torch
from torch_fidelity.metric_kid import kernel_poly, mmd2

from ganbench.fidelity import kid_standard_error

M, DIM, REPEATS = 100, 5, 300


def _u_statistic(x: np.ndarray, y: np.ndarray) -> float:
    """torch-fidelity's own MMD^2 U-statistic with the KID kernel, computed independently of ganbench."""
    kernel = lambda a, b: kernel_poly(a, b, kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None,  # noqa: E731
                                      kid_kernel_poly_coef0=1)
    return float(mmd2(kernel(x, x), kernel(x, y), kernel(y, y), mmd_est="u-statistic"))


@pytest.mark.parametrize("shift", [0.0, 0.5], ids=["same distribution", "shifted mean"])
def test_standard_error_matches_the_spread_over_repeated_samples(shift):
    rng = np.random.default_rng(0)
    estimates, errors = [], []
    for _ in range(REPEATS):
        x = rng.normal(size=(M, DIM))
        y = rng.normal(size=(M, DIM)) + shift
        estimates.append(_u_statistic(x, y))
        errors.append(kid_standard_error(torch.from_numpy(x), torch.from_numpy(y)))
    spread = float(np.std(estimates, ddof=1))
    # The mean estimated error is within 20 % of the true spread (300 repeats: the spread itself is
    # known to about 4 %). Under equal distributions only the second-order term carries the error.
    assert np.mean(errors) == pytest.approx(spread, rel=0.2)


def test_standard_error_needs_pairs_and_shrinks_with_n():
    rng = np.random.default_rng(1)
    assert math.isnan(kid_standard_error(torch.zeros(3, 2), torch.zeros(3, 2)))
    small = kid_standard_error(torch.from_numpy(rng.normal(size=(100, 4))), torch.from_numpy(rng.normal(size=(100, 4)) + 1))
    large = kid_standard_error(torch.from_numpy(rng.normal(size=(1600, 4))), torch.from_numpy(rng.normal(size=(1600, 4)) + 1))
    assert large < small / 2  # the first-order term falls as 1/sqrt(m): 4x here, in expectation


def test_blocks_give_the_same_error(monkeypatch):
    import ganbench.fidelity as fidelity
    rng = np.random.default_rng(2)
    x, y = torch.from_numpy(rng.normal(size=(300, 3))), torch.from_numpy(rng.normal(size=(300, 3)) + 0.3)
    whole = kid_standard_error(x, y)
    monkeypatch.setattr(fidelity, "KID_SE_BLOCK", 64)
    assert kid_standard_error(x, y) == pytest.approx(whole, rel=1e-9)


def test_features_far_from_the_origin_of_one_distribution_still_get_an_error():
    """Features whose mean lies far from 0 (as a classifier's features of real images do) drive the noisy
    first-order estimate below 0 about a third of the time; the error must stay positive and match
    the true spread rather than come out 0 (what the published real-data rows once showed: KID -37.5 ± 0)."""
    rng = np.random.default_rng(2)
    estimates, errors = [], []
    for _ in range(200):
        x = rng.normal(size=(M, DIM)) + 3
        y = rng.normal(size=(M, DIM)) + 3
        estimates.append(_u_statistic(x, y))
        errors.append(kid_standard_error(torch.from_numpy(x), torch.from_numpy(y)))
    assert min(errors) > 0
    assert np.mean(errors) == pytest.approx(float(np.std(estimates, ddof=1)), rel=0.25)
