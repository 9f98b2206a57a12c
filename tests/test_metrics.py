"""Evaluation contexts and metric plugins, checked on real data against independent computations.

Real data comes from the dataset plugins (mnist5k, stacked_mnist, ring8, grid25) used as if it were a
generator's output; hand-made cases (collapse, noise) use small local datasets.
"""

from __future__ import annotations

import math
import os
import re

import numpy as np
import pytest
import scipy.linalg
import torch

from ganbench.api import DataInfo, Dataset, Metric, MetricValue
from ganbench.evaluation import SamplingContext, evaluate
from ganbench_plugins.datasets.grid25 import Grid25
from ganbench_plugins.datasets.mnist5k import Mnist5k
from ganbench_plugins.datasets.ring8 import Ring8
from ganbench_plugins.datasets.stacked_mnist import StackedMnist
from ganbench_plugins.metrics.class_coverage import ClassCoverage
from ganbench_plugins.metrics.inception_fidelity import ENV_WEIGHTS, InceptionFidelity
from ganbench_plugins.metrics.lenet_fidelity import LenetFidelity
from ganbench_plugins.metrics.mode_coverage import ModeCoverage
from ganbench_plugins.metrics.stacked_mnist_modes import StackedMnistModes


# -- data: the dataset plugins for real samples, small local classes for hand-made cases -------------

class Ring(Dataset):
    name = "ring_test"
    info = DataInfo(shape=(2,), kind="points", num_modes=8)
    modes = torch.tensor([[math.cos(2 * math.pi * i / 8), math.sin(2 * math.pi * i / 8)] for i in range(8)])
    mode_std = 0.01


class Grid(Dataset):
    name = "grid_test"
    info = DataInfo(shape=(2,), kind="points", num_modes=25)
    modes = torch.tensor([[float(a), float(b)] for a in range(-4, 5, 2) for b in range(-4, 5, 2)])
    mode_std = 0.05


def mixture_sampler(modes: torch.Tensor, std: float, which=None):
    """sample_fn drawing real mixture points; ``which`` pins every sample to one mode (collapse)."""
    def sample_fn(n, gen):
        idx = torch.randint(len(modes), (n,), generator=gen) if which is None else torch.full((n,), which)
        return modes[idx] + std * torch.randn(n, 2, generator=gen), None
    return sample_fn


def pool_sampler(pool: torch.Tensor, labels: torch.Tensor | None = None):
    """sample_fn returning a seeded permutation of real samples (no repeats when n <= len(pool))."""
    def sample_fn(n, gen):
        idx = torch.randperm(len(pool), generator=gen)[:n] if n <= len(pool) else \
            torch.randint(len(pool), (n,), generator=gen)
        return pool[idx], (labels[idx] if labels is not None else None)
    return sample_fn


def by_name(values: list[MetricValue]) -> dict[str, MetricValue]:
    return {v.name: v for v in values}


def digits_ctx(sample_fn, cache_dir) -> SamplingContext:
    return SamplingContext(sample_fn, Mnist5k(), Mnist5k.info, seed=0, cache_dir=str(cache_dir))


# -- SamplingContext and evaluate() -------------------------------------------------------------------

def test_context_uses_the_same_noise_and_memoises():
    calls = []

    def sample_fn(n, gen):
        calls.append(n)
        return torch.rand(n, 2, generator=gen) * 2 - 1, None

    loads = []

    class Counting(Ring):
        def load(self, split):
            loads.append(split)
            return torch.zeros(3, 2), None

    a = SamplingContext(sample_fn, Counting(), Ring.info, seed=3)
    b = SamplingContext(sample_fn, Counting(), Ring.info, seed=3)
    assert a.drawn is None
    assert torch.equal(a.sample(10), b.sample(10))           # same seed, same evaluation noise
    assert a.sample(10) is a.sample(10) and calls == [10, 10]  # memoised per n within a context
    assert torch.equal(a.sample(20)[:10], a.sample(10))      # a fresh generator per draw
    assert len(a.drawn[0]) == 20
    other = SamplingContext(sample_fn, Counting(), Ring.info, seed=4)
    assert not torch.equal(other.sample(10), a.sample(10))
    a.reference("val"), a.reference("val")
    assert loads == ["val"]


def test_a_runs_evaluations_read_the_held_out_splits_and_the_fingerprint_once():
    loads = []

    class Counting(Ring):
        def load(self, split):
            loads.append(split)
            return torch.full((3, 2), float(len(loads))), None

    dataset, kept = Counting(), {}
    sample_fn = lambda n, gen: (torch.zeros(n, 2), None)  # noqa: E731
    first, later = (SamplingContext(sample_fn, dataset, Ring.info, seed=0, real_data=kept) for _ in range(2))
    fingerprint = first.fingerprint()
    assert later.fingerprint() == fingerprint and loads == ["train", "val", "test"]
    assert torch.equal(first.reference("val")[0], later.reference("val")[0]) and loads.count("val") == 2
    # the training split is the largest: each evaluation reads it again rather than holding it for the run
    first.reference("train"), later.reference("train")
    assert loads.count("train") == 3
    # without a kept dict every context reads for itself, as before
    alone = SamplingContext(sample_fn, dataset, Ring.info, seed=0)
    alone.reference("val")
    assert loads.count("val") == 3


def test_failing_metric_leaves_the_others():
    class Broken(Metric):
        name = "broken"

        def compute(self, ctx, split):
            raise RuntimeError("boom\nsecond line")

    class Constant(Metric):
        name = "constant"

        def compute(self, ctx, split):
            return [MetricValue("c", float(ctx.sample(4).shape[0]), True, 4, split)]

    ctx = SamplingContext(mixture_sampler(Ring.modes, 0.01), Ring(), Ring.info, seed=0)
    values, errors = evaluate([Broken(), Constant()], ctx, "test")
    assert errors == {"broken": "RuntimeError: boom"}
    assert [(v.name, v.value) for v in values] == [("c", 4.0)]
    assert "seconds" in values[0].extra


# -- 2D mixtures ---------------------------------------------------------------------------------------

def test_real_ring_gives_all_modes_and_expected_hq():
    ctx = SamplingContext(mixture_sampler(Ring.modes, Ring.mode_std), Ring(), Ring.info, seed=0)
    v = by_name(ModeCoverage().compute(ctx, "test"))
    assert v["modes"].value == 8 and v["modes"].num_samples == 2500
    expected_hq = 100 * (1 - math.exp(-4.5))  # P(chi_2 < 3) for an isotropic 2D Gaussian
    assert abs(v["hq_percent"].value - expected_hq) < 1.0
    assert v["reverse_kl"].value < 0.02


def test_real_grid_gives_all_modes():
    ctx = SamplingContext(mixture_sampler(Grid.modes, Grid.mode_std), Grid(), Grid.info, seed=0)
    v = by_name(ModeCoverage().compute(ctx, "test"))
    assert v["modes"].value == 25 and abs(v["hq_percent"].value - 98.9) < 1.0


@pytest.mark.parametrize("cls", [Ring8, Grid25])
def test_dataset_plugins_test_split_scores_as_real(cls):
    x, _ = cls().load("test")
    ctx = SamplingContext(pool_sampler(x), cls(), cls.info, seed=0)
    v = by_name(ModeCoverage().compute(ctx, "test"))
    assert v["modes"].value == len(cls.modes) == cls.info.num_modes
    assert abs(v["hq_percent"].value - 100 * (1 - math.exp(-4.5))) < 1.0


def test_collapse_to_one_mode():
    ctx = SamplingContext(mixture_sampler(Ring.modes, Ring.mode_std, which=2), Ring(), Ring.info, seed=0)
    v = by_name(ModeCoverage().compute(ctx, "test"))
    assert v["modes"].value == 1
    p = np.zeros(8)
    p[2] = 1.0
    independent = float(np.sum(p[p > 0] * np.log(p[p > 0] / (1 / 8))))
    assert v["reverse_kl"].value == pytest.approx(independent) == pytest.approx(np.log(8))


def test_mode_coverage_refuses_data_without_modes():
    assert ModeCoverage.supports(Mnist5k.info, "mnist5k") is not None
    assert ModeCoverage.supports(Ring.info, "ring8") is None


# -- Stacked MNIST ---------------------------------------------------------------------------------------

def test_real_stacked_mnist_covers_about_all_modes(evaluator):
    """The Stacked MNIST plugin's test split (26,000 real triples) scored as if generated."""
    x, _ = StackedMnist().load("test")
    ctx = SamplingContext(pool_sampler(x), StackedMnist(), StackedMnist.info, seed=0)
    metric = StackedMnistModes(digit_dataset=Mnist5k())
    assert metric.supports(StackedMnist.info, "stacked_mnist") is None
    v = by_name(metric.compute(ctx, "test"))
    assert v["modes"].num_samples == 26_000
    assert v["modes"].value >= 950
    assert v["reverse_kl"].value < 0.1
    assert v["modes"].extractor == evaluator.name


# -- class coverage ---------------------------------------------------------------------------------------

def test_class_coverage_real_and_collapsed(evaluator, evaluator_cache):
    xv, yv = Mnist5k().load("val")
    real = by_name(ClassCoverage().compute(digits_ctx(pool_sampler(xv, yv), evaluator_cache), "test"))
    assert real["classes_covered"].value == 10
    assert real["class_kl"].value < 0.05
    assert real["label_accuracy"].value >= 0.9  # a "conditional generator" that returns true digits
    sevens = xv[yv == 7]
    collapsed = by_name(ClassCoverage().compute(digits_ctx(pool_sampler(sevens), evaluator_cache), "test"))
    # "Covered" means >= 1 sample, so a few misclassified sevens count: check KL, not the count alone.
    assert collapsed["classes_covered"].value < 10
    assert collapsed["class_kl"].value > 1.5  # about log 10 = 2.3 for a single class


# -- LeNet fidelity ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lenet_runs(evaluator, evaluator_cache):
    """LeNet metrics for real val digits and for noise, each against the test split."""
    xv, _ = Mnist5k().load("val")
    real_ctx = digits_ctx(pool_sampler(xv), evaluator_cache)
    noise_ctx = digits_ctx(lambda n, gen: (torch.rand(n, 1, 28, 28, generator=gen) * 2 - 1, None), evaluator_cache)
    return real_ctx, by_name(LenetFidelity().compute(real_ctx, "test")), \
        noise_ctx, by_name(LenetFidelity().compute(noise_ctx, "test"))


def test_lenet_real_vs_real_small_noise_large(lenet_runs, evaluator):
    _, real, _, noise = lenet_runs
    assert set(real) == {"fid_lenet", "kid_lenet", "is_lenet", "precision_lenet", "recall_lenet"}
    for v in real.values():
        assert v.num_samples == 1000 and v.reference_split == "test" and v.extractor == evaluator.name
    assert real["fid_lenet"].value * 20 < noise["fid_lenet"].value
    assert real["kid_lenet"].value * 20 < noise["kid_lenet"].value
    assert real["is_lenet"].value > noise["is_lenet"].value
    # Noise maps to one small region of LeNet space: like a collapsed generator it keeps a high
    # precision and gets zero recall, so recall is what separates it (notes: read P and R together).
    assert real["recall_lenet"].value > 0.5 > noise["recall_lenet"].value
    assert real["precision_lenet"].value > 0.5


def _independent_fid(f1: np.ndarray, f2: np.ndarray) -> float:
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _independent_kid(f1: np.ndarray, f2: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3 on the full sets."""
    d = f1.shape[1]
    kxx, kyy, kxy = ((f1 @ f1.T) / d + 1) ** 3, ((f2 @ f2.T) / d + 1) ** 3, ((f1 @ f2.T) / d + 1) ** 3
    m, n = len(f1), len(f2)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def test_fid_and_kid_match_independent_computations(lenet_runs, evaluator):
    from ganbench.fidelity import extract_features

    for ctx, values in (lenet_runs[0], lenet_runs[1]), (lenet_runs[2], lenet_runs[3]):
        f_gen = extract_features(evaluator.name, ctx.sample(1000), "fc", str(evaluator.path)).double().numpy()
        f_ref = extract_features(evaluator.name, ctx.reference("test")[0], "fc", str(evaluator.path)).double().numpy()
        assert values["fid_lenet"].value == pytest.approx(_independent_fid(f_gen, f_ref), rel=1e-4)
        # 1000 samples per side and subsets of 1000: every KID subset is the full set, in some order.
        assert values["kid_lenet"].extra["subset_size"] == 1000 and values["kid_lenet"].extra["subsets"] == 1
        assert values["kid_lenet"].value == pytest.approx(_independent_kid(f_gen, f_ref), rel=1e-4, abs=1e-6)


def test_only_the_reference_side_is_cached(lenet_runs, evaluator_cache):
    real_ctx = lenet_runs[0]
    files = os.listdir(evaluator_cache / "fidelity")
    assert files, "reference features were not cached"
    prefix = f"ganbench-mnist5k-{real_ctx.fingerprint()}-test-n1000-{lenet_runs[1]['fid_lenet'].extractor}"
    assert any(f.startswith(prefix) for f in files), files
    # The cache is shared by the session's tests: every file in it must name a real split and its N
    # (a reference side); a generated sample set has neither.
    reference = re.compile(r"ganbench-[a-z0-9_]+-[0-9a-f]+-(train|val|test)-n\d+-")
    assert all(reference.match(f) for f in files), files


def test_too_few_samples_skips_kid_with_a_reason(evaluator, evaluator_cache):
    xv, _ = Mnist5k().load("val")
    values = by_name(LenetFidelity(num_samples=60).compute(digits_ctx(pool_sampler(xv), evaluator_cache), "test"))
    assert math.isnan(values["kid_lenet"].value) and "KID needs" in values["kid_lenet"].extra["skipped"]
    assert math.isfinite(values["fid_lenet"].value) and values["fid_lenet"].num_samples == 60
    assert values["fid_lenet"].extra.get("rank_deficient") is True


def test_tiny_sample_records_every_skip(evaluator, evaluator_cache):
    xv, _ = Mnist5k().load("val")
    values = by_name(LenetFidelity(num_samples=5).compute(digits_ctx(pool_sampler(xv), evaluator_cache), "test"))
    assert math.isnan(values["is_lenet"].value) and "IS needs" in values["is_lenet"].extra["skipped"]
    assert math.isfinite(values["precision_lenet"].value)  # 5 > k = 3


def test_identical_sets_give_fid_near_zero_unclipped(evaluator, evaluator_cache):
    xt, _ = Mnist5k().load("test")
    ctx = digits_ctx(lambda n, gen: (xt[:n], None), evaluator_cache)
    fid = by_name(LenetFidelity().compute(ctx, "test"))["fid_lenet"]
    assert abs(fid.value) < 1e-2
    assert (fid.value < 0) == ("note" in fid.extra)  # a negative raw value is kept and annotated


# -- Inception: plumbing only, with weights built here -----------------------------------------------

class TinyDigits(Mnist5k):
    """10 digits per split: IS needs >= 10 samples, and Inception is slow here (notes: 7-11 images/s;
    we measured 1.5-2 images/s while the 2 cores were shared)."""

    name = "tiny_digits_test"

    def load(self, split):
        x, y = super().load(split)
        return x[:10], y[:10]


def test_inception_refuses_without_weights(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_WEIGHTS, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    reason = InceptionFidelity.supports(Mnist5k.info, "mnist5k")
    assert reason and ENV_WEIGHTS in reason
    ctx = digits_ctx(pool_sampler(Mnist5k().load("val")[0]), tmp_path)
    values, errors = evaluate([InceptionFidelity()], ctx, "test")
    assert values == [] and "Inception weights not found" in errors["inception_fidelity"]


def build_inception_weights(directory) -> str:
    """A weights file for torch-fidelity's InceptionV3, built without any download.

    The module's default init gives degenerate features (FID ~1e-13), so convolutions get
    kaiming_normal_ instead.
    """
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Skeleton(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):
            return None  # keep the fresh weights; the parent would load a file here

    empty = directory / "empty.pth"
    torch.save({}, empty)
    model = Skeleton("skeleton", ["2048"], feature_extractor_weights_path=str(empty))
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, generator=gen)
    path = directory / "inception-test.pth"
    torch.save(model.state_dict(), path)
    return str(path)


def test_inception_plumbing_with_test_weights(monkeypatch, tmp_path):
    import torch_fidelity.feature_extractor_inceptionv3 as inception_module

    def no_download(*args, **kwargs):
        raise AssertionError("tried to download Inception weights")

    monkeypatch.setattr(inception_module, "load_state_dict_from_url", no_download)
    monkeypatch.setenv(ENV_WEIGHTS, build_inception_weights(tmp_path))
    assert InceptionFidelity.supports(Mnist5k.info, "mnist5k") is None

    # One call, 10 generated + 10 real images: under load Inception ran at only 1.5-2 images/s here.
    xv, _ = TinyDigits().load("val")
    ctx = SamplingContext(pool_sampler(xv), TinyDigits(), TinyDigits.info, seed=0, cache_dir=str(tmp_path))
    values, errors = evaluate([InceptionFidelity()], ctx, "test")
    assert errors == {}
    v = by_name(values)
    assert v["fid_inception"].num_samples == 10 and v["fid_inception"].reference_split == "test"
    assert v["fid_inception"].extractor.startswith("inception-v3-compat-custom-")
    assert v["fid_inception"].extra["rank_deficient"] is True
    # Distinct real digits through non-degenerate random features: clearly above round-off.
    assert math.isfinite(v["fid_inception"].value) and v["fid_inception"].value > 1e-3
    assert math.isnan(v["kid_inception"].value) and "KID needs" in v["kid_inception"].extra["skipped"]
    assert v["is_inception"].value >= 1.0 and 0 <= v["precision_inception"].value <= 1
