"""The memorization metric: near-copy share and Meehan et al.'s C_T, on real embedded data and on
hand-made tensors whose answer is known exactly.

A "generator" that replays training samples must be caught; held-out real data, which no model saw,
must not be. Both checks run on mnist5k (LeNet features) and ring8 (raw 2D points, 100,000 training
points).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import mannwhitneyu

from ganbench import plugins
from ganbench.api import DataInfo, Dataset
from ganbench.evaluation import SamplingContext
from ganbench_plugins.datasets.mnist5k import Mnist5k
from ganbench_plugins.datasets.ring8 import Ring8
from ganbench_plugins.metrics import memorization as mem


@pytest.fixture(scope="module")
def metric_cls():
    """The plugin as the host loads it, through its entry point."""
    return plugins.load().metrics.get("memorization")


def by_name(values):
    return {v.name: v for v in values}


def replay(pool: torch.Tensor):
    """A generator that returns random training samples (with repeats)."""
    def sample_fn(n, gen):
        return pool[torch.randint(len(pool), (n,), generator=gen)], None
    return sample_fn


def permuted(pool: torch.Tensor):
    """Real samples the generator could not have seen, in a seeded order, no repeats."""
    def sample_fn(n, gen):
        return pool[torch.randperm(len(pool), generator=gen)[:n]], None
    return sample_fn


# -- real data ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["mnist5k", "ring8"])
def dataset(request, evaluator_cache):
    """``(dataset class, the extractor its values must name)``: LeNet features for digits (the
    ``fid_lenet`` space), raw coordinates for points."""
    if request.param == "mnist5k":
        return Mnist5k, request.getfixturevalue("evaluator").name
    return Ring8, "raw"


def score(metric_cls, cls, sample_fn, cache_dir):
    ctx = SamplingContext(sample_fn, cls(), cls.info, seed=0, cache_dir=str(cache_dir))
    return by_name(metric_cls().compute(ctx, "test"))


def test_replayed_training_samples_are_caught(metric_cls, dataset, evaluator_cache):
    dataset, extractor = dataset
    train, _ = dataset().load("train")
    v = score(metric_cls, dataset, replay(train), evaluator_cache)
    mp, ct = v["memorized_percent"], v["data_copying_ct"]
    n_test = dataset.sizes["test"]
    assert mp.value >= 90 and mp.higher_is_better is False
    assert ct.value < -10  # every cell's generated distances are 0: Z_U = -sqrt(3mn/(m+n+1))
    for value in (mp, ct):
        assert value.num_samples == n_test and value.reference_split == "test"
        assert value.extra["compared_with"] == "train" and value.extractor == extractor
    assert mp.extra["alpha"] == 0.01 and mp.extra["warn_above"] == 10.0 and mp.extra["threshold"] > 0
    assert ct.extra["cells"] == 5 and all("z_u" in c for c in ct.extra["per_cell"])


def test_heldout_real_data_is_not_flagged(metric_cls, dataset, evaluator_cache):
    dataset, _ = dataset
    val, _ = dataset().load("val")
    v = score(metric_cls, dataset, permuted(val), evaluator_cache)
    # Under the null about alpha = 1 % is flagged (binomial sd 0.3 points at N = 1000).
    assert v["memorized_percent"].value <= 5
    assert abs(v["data_copying_ct"].value) < 3  # a weighted mean of ~N(0, 1) cell statistics


# -- the rule, on hand-made tensors ---------------------------------------------------------------------

class Points(Dataset):
    """2D points given per split; the default fingerprint hashes them, so each instance is distinct."""

    name = "points_test"
    info = DataInfo(shape=(2,), kind="points")

    def __init__(self, splits: dict[str, torch.Tensor]):
        super().__init__()
        self.splits = splits

    def load(self, split):
        return self.splits[split], None


def line(distances) -> torch.Tensor:
    """Points on the x axis, at the given distances from the origin."""
    d = torch.as_tensor(distances, dtype=torch.float32)
    return torch.stack([d, torch.zeros_like(d)], 1)


def points_ctx(splits, generated: torch.Tensor) -> SamplingContext:
    """Scored against "test"; "val" defaults to it (the fingerprint hashes every split)."""
    splits = {"val": splits["test"], **splits}

    def sample_fn(n, gen):
        assert n == len(generated)
        return generated, None
    ds = Points(splits)
    return SamplingContext(sample_fn, ds, ds.info, seed=0)


def test_threshold_rule_on_hand_made_points(metric_cls):
    # One training point at the origin; held-out distances 1, 2, ..., 101: the 0.01-quantile
    # (linear) is at rank 0.01 * 100 = 1, i.e. exactly 2. Generated: 10 at distance 1 (< 2,
    # flagged), one at exactly 2 off the axis (not < 2), 90 at distance 3.
    heldout = line(range(1, 102))
    generated = torch.cat([line([1.0] * 10), torch.tensor([[0.0, 2.0]]), line([3.0] * 90)])
    splits = {"train": torch.zeros(1, 2), "test": heldout}
    v = by_name(metric_cls().compute(points_ctx(splits, generated), "test"))
    mp = v["memorized_percent"]
    assert mp.extra["threshold"] == 2.0
    assert mp.value == pytest.approx(100 * 10 / 101, abs=1e-12)
    assert mp.num_samples == 101 and mp.extractor == "raw"
    assert math.isfinite(v["data_copying_ct"].value) and v["data_copying_ct"].extra["cells"] == 1


def test_near_copy_share_is_strict_and_uses_the_linear_quantile():
    d_ref = np.arange(1.0, 102.0)
    assert mem.near_copy_share([0.0, 1.999, 2.0, 5.0], d_ref) == (50.0, 2.0)
    # 0.01-quantile of {0, 10}: 0.1 by linear interpolation.
    assert mem.near_copy_share([0.05, 0.11, 0.2], [0.0, 10.0]) == pytest.approx((100 / 3, 0.1))


def test_too_few_heldout_or_no_training_data_is_skipped_with_a_reason(metric_cls):
    one = by_name(metric_cls().compute(points_ctx({"train": torch.zeros(3, 2), "test": line([1.0])},
                                                  line([1.0])), "test"))
    empty = by_name(metric_cls().compute(points_ctx({"train": torch.zeros(0, 2), "test": line([1.0, 2.0])},
                                                    line([1.0, 2.0])), "test"))
    for values, why in ((one, "at least 2 real samples"), (empty, "train split is empty")):
        for v in values.values():
            assert math.isnan(v.value) and why in v.extra["skipped"] and v.extractor == "raw"


def test_ct_is_skipped_when_no_cell_has_enough_generated_samples(metric_cls):
    heldout = line(range(1, 11))
    v = by_name(metric_cls().compute(points_ctx({"train": torch.zeros(1, 2), "test": heldout}, heldout + 0.5),
                                     "test"))
    assert math.isfinite(v["memorized_percent"].value)
    assert math.isnan(v["data_copying_ct"].value) and "more than 20" in v["data_copying_ct"].extra["skipped"]


@pytest.mark.parametrize("search", ["cdist", "cdist in blocks", "k-d trees"])
def test_nearest_per_cell_matches_brute_force(search, monkeypatch):
    if search == "cdist in blocks":  # training blocks that straddle cell boundaries, several query chunks per block
        monkeypatch.setattr(mem, "TRAIN_BLOCK", 64)
        monkeypatch.setattr(mem, "CHUNK_ELEMENTS", 64 * 16)
    gen = torch.Generator().manual_seed(0)
    train = torch.randn(200, 3, generator=gen)
    queries = torch.cat([torch.randn(50, 3, generator=gen), train[:5]])  # the last five are copies
    bounds = [0, 70, 70, 140, 200]  # cell 1 is empty
    trees = mem.kd_trees(train, bounds) if search == "k-d trees" else None
    assert (trees is not None) == (search == "k-d trees")
    assert mem.kd_trees(torch.randn(10, mem.KD_TREE_MAX_DIM + 1), [0, 10]) is None  # LeNet features: brute force
    got = mem.nearest_per_cell(queries, train, bounds, trees=trees)
    for j in range(4):
        cell = train[bounds[j]:bounds[j + 1]].double()
        if len(cell) == 0:
            assert torch.isinf(got[:, j]).all()
            continue
        brute = torch.cdist(queries.double(), cell, compute_mode="donot_use_mm_for_euclid_dist").min(1).values
        assert torch.allclose(got[:, j], brute, rtol=0, atol=1e-12)
    assert torch.equal(got[-5:, 0], torch.zeros(5, dtype=torch.float64))  # exact copies: exactly 0


def test_z_u_is_the_papers_statistic():
    rng = np.random.default_rng(0)
    q, p = rng.normal(size=40).round(1), rng.normal(size=30).round(1)  # rounding makes ties
    u = (q[:, None] > p[None, :]).sum() + 0.5 * (q[:, None] == p[None, :]).sum()
    m, n = len(q), len(p)
    assert mem.z_u(q, p) == pytest.approx((u - m * n / 2) / math.sqrt(m * n * (m + n + 1) / 12), abs=1e-12)
    scipy_u = mannwhitneyu(q, p, method="asymptotic").statistic  # the same U, computed independently
    assert mem.z_u(q, p) == pytest.approx((scipy_u - m * n / 2) / math.sqrt(m * n * (m + n + 1) / 12), abs=1e-12)
    ct, cells = mem.data_copying_ct(q, np.zeros(40, int), p, np.zeros(30, int), k=2)
    assert ct == pytest.approx(mem.z_u(q, p)) and "z_u" not in cells[1]


def test_cells_are_the_nearest_centroid_of_a_partition_that_finds_separated_clusters():
    """Five well-separated blobs must come out as five cells, each blob whole, and every sample
    (training, held-out or generated) goes to the centroid nearest to it."""
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0], [5.0, 20.0]])
    blob = torch.arange(5).repeat_interleave(80)
    train = centres[blob] + 0.1 * torch.randn(400, 2, generator=gen)
    heldout = centres[torch.arange(5).repeat(20)] + 0.1 * torch.randn(100, 2, generator=gen)
    ref = mem._Reference(train, heldout, k=5, device="cpu")
    cells = torch.from_numpy(ref.cells(train))
    assert len(set(zip(blob.tolist(), cells.tolist()))) == 5  # one cell per blob, none split
    assert ref.bounds == [0, 80, 160, 240, 320, 400]
    queries = torch.randn(50, 2, generator=gen) * 8 + 5
    nearest = torch.cdist(queries.double(), torch.from_numpy(ref.centroids)).argmin(1)
    assert torch.equal(torch.from_numpy(ref.cells(queries)), nearest)


# -- end to end: a copying generator is flagged in the leaderboard -----------------------------------

class _Replayer(torch.nn.Module):
    """Returns training images chosen by its latent: a perfect copier."""

    def __init__(self, train: torch.Tensor, z_dim: int):
        super().__init__()
        self.register_buffer("pool", train)
        self.z_dim = z_dim
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # something for the optimiser to hold

    def forward(self, z, y=None):
        index = (z[:, 0].double().abs() * 1e9).long() % len(self.pool)
        return self.pool[index] + 0 * self.anchor


class _FlatCritic(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(28 * 28, 1)

    def forward(self, x, y=None):
        return self.head(x.flatten(1)).squeeze(1)


def test_a_replaying_generator_is_flagged_in_the_leaderboard_at_the_fid_floor(tmp_path, monkeypatch, evaluator):
    import json
    import types

    from click.testing import CliRunner

    from ganbench import cli as cli_mod
    from ganbench import hookimpl
    from ganbench.api import Architecture

    train, _ = Mnist5k().load("train")

    class Replay(Architecture):
        """Replays MNIST-5k training digits (a test double)."""

        name = "replay"
        image_sides = (28,)
        defaults = {"batch_size": 16, "z_dim": 4, "lr_g": 1e-4, "lr_d": 1e-4}

        def build(self, data, hparams):
            return _Replayer(train, int(hparams["z_dim"])), _FlatCritic()

    module = types.ModuleType("replay_plugin")
    module.ganbench_register_architectures = hookimpl(lambda registry: registry.add(Replay))
    real_load = plugins.load
    monkeypatch.setattr(plugins, "load", lambda **kw: real_load(**kw, extra=[("replay", module)]))
    results, board = tmp_path / "results", tmp_path / "board"
    out = CliRunner().invoke(cli_mod.cli, [
        "run", "--arch", "replay", "--loss", "nonsaturating", "--dataset", "mnist5k", "--budget", "steps=2",
        "--metric", "lenet_fidelity", "--metric", "memorization", "--quiet", "--threads", "1",
        "--results-dir", str(results)], obj={})
    assert out.exit_code == 0, out.output
    out = CliRunner().invoke(cli_mod.cli, ["report", "--results-dir", str(results), "--format", "json",
                                           "--format", "markdown", "--out", str(board)], obj={})
    assert out.exit_code == 0, out.output
    table = next(t for t in json.loads((board / "report.json").read_text())["tables"] if t["kind"] == "leaderboard")
    reference, replay = table["rows"][0], table["rows"][1]
    assert replay["variant"]["text"].startswith("replay")
    assert replay["memorized_percent"]["value"] >= 90 and "⚠" in replay["memorized_percent"]["text"]
    assert reference["memorized_percent"]["value"] <= 5
    # FID barely tells it from real data: near the held-out floor at the same N (12.4 against 8.9 here;
    # drawing 1000 of 3000 training digits with replacement repeats some), a tenth of what the best
    # trained DCGAN reaches
    floor = reference["fid_lenet"]["value"]
    assert replay["fid_lenet"]["value"] < 1.5 * floor, (replay["fid_lenet"]["value"], floor)
    assert "reproduces training samples" in (board / "report.md").read_text()
