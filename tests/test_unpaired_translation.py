"""Unpaired translation (CycleGAN) between MNIST-5k and scikit-learn's digits at 28x28: the two-domain
data, the joint generator and discriminator, the cycle and identity terms, the per-direction scores
against independent computations, and a run from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from scipy import linalg

from ganbench import plugins
from ganbench.evaluation import SamplingContext
from ganbench.evaluators import get_evaluator
from ganbench.testing import invoke_cli, run_stopped_and_resumed
from ganbench.training import Trainer

from ganbench_plugins.archs.cyclegan import JointDiscriminator, JointGenerator
from ganbench_plugins.datasets.digits import Digits
from ganbench_plugins.datasets.digits28 import Digits28
from ganbench_plugins.datasets.mnist5k import Mnist5k
from ganbench_plugins.datasets.mnist5k_digits28 import Mnist5kDigits28
from ganbench_plugins.metrics.cycle_translation import CycleTranslation, frechet_distance
from ganbench_plugins.tasks.unpaired_translation import UnpairedTranslation, swap_halves

pytestmark = pytest.mark.usefixtures("one_thread")


def test_digits28_are_the_8x8_digits_in_mnists_frame():
    small, labels = Digits().load("val")
    x, y = Digits28().load("val")
    assert x.shape == (300, 1, 28, 28) and torch.equal(y, labels)
    margin = torch.ones(28, 28, dtype=torch.bool)
    margin[4:24, 4:24] = False
    assert torch.equal(x[:, :, margin], torch.full_like(x[:, :, margin], -1.0))   # MNIST's empty 4 px border
    # the 20x20 box, block-averaged back to 8x8 (2.5 px a cell), is the source digit (up to resampling)
    back = F.adaptive_avg_pool2d(x[:, :, 4:24, 4:24], 8)
    assert float((back - small).abs().mean()) < 0.15 and float(torch.corrcoef(
        torch.stack([back.flatten(), small.flatten()]))[0, 1]) > 0.95
    levels = (x + 1) * 127.5
    assert float((levels - torch.round(levels)).abs().max()) < 1e-4   # 8-bit grey levels, as MNIST is stored


def test_a_joint_sample_is_an_mnist_digit_beside_a_digits28_one_coupled_at_random():
    ds = Mnist5kDigits28()
    x, y = ds.load("test")
    assert x.shape == (1000, 1, 28, 56) and y is None and ds.info.num_classes == 0
    a, b = x[..., :28], x[..., 28:]
    mnist, mnist_y = Mnist5k().load("test")
    digits, digits_y = Digits28().load("test")
    assert torch.equal(a, mnist)                                   # every MNIST-5k test digit, in order
    match = (b.flatten(1)[:, None, :] == digits.flatten(1)[None]).all(-1)
    assert bool(match.any(1).all())                                # every right half is a digits28 test image
    used = torch.bincount(match.float().argmax(1), minlength=300)
    assert int(used.min()) == 3 and int(used.max()) == 4           # each used equally often (1000 over 300)
    labels = ds.domain_labels("test")
    assert torch.equal(labels[:, 0], mnist_y) and torch.equal(labels[:, 1], digits_y[match.float().argmax(1)])
    # unpaired: the two halves' classes agree at chance, not more
    assert float((labels[:, 0] == labels[:, 1]).float().mean()) < 0.2
    assert torch.equal(ds.load_inputs("test"), x) and torch.equal(Mnist5kDigits28().load("test")[0], x)
    assert not torch.equal(ds.domain_labels("val")[:300], labels[:300])


def test_the_generator_translates_each_half_into_the_other_domain_and_twice_is_the_cycle():
    torch.manual_seed(0)
    G, D = JointGenerator(1, 4, 1), JointDiscriminator(1, 4)
    x = torch.rand(3, 1, 28, 56) * 2 - 1
    a, b = x[..., :28], x[..., 28:]
    out = G(x)
    assert torch.allclose(out[..., :28], G.b_to_a(b)) and torch.allclose(out[..., 28:], G.a_to_b(a))
    again = G(out)
    assert torch.allclose(again[..., :28], G.b_to_a(G.a_to_b(a)), atol=1e-6)
    assert torch.allclose(again[..., 28:], G.a_to_b(G.b_to_a(b)), atol=1e-6)
    scores = D(x)
    assert scores.shape == (6,)
    assert torch.allclose(scores[:3], D.judge_a(a).mean(dim=(1, 2, 3)))
    assert torch.allclose(scores[3:], D.judge_b(b).mean(dim=(1, 2, 3)))


def test_the_objective_adds_lambda_cycle_and_half_lambda_identity():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 28, 56, generator=gen) * 2 - 1
    a, b = x[..., :28], x[..., 28:]

    def g_ab(img):
        return 0.5 * img + 0.1

    def g_ba(img):
        return -0.3 * img

    def generate(joint):   # G(a | b) = (G_BA(b) | G_AB(a)), with two known functions
        return torch.cat([g_ba(joint[..., 28:]), g_ab(joint[..., :28])], dim=-1)

    task = UnpairedTranslation(UnpairedTranslation.defaults)
    assert task.hparams == {"cycle_weight": 10.0, "identity_weight": 5.0}
    cycle = (torch.cat([(g_ba(g_ab(a)) - a).flatten(), (g_ab(g_ba(b)) - b).flatten()])).abs().mean()
    identity = (torch.cat([(g_ba(a) - a).flatten(), (g_ab(b) - b).flatten()])).abs().mean()
    got = task.generator_objective(torch.tensor(0.7), generate(x), x, generate=generate)
    assert float(got) == pytest.approx(0.7 + 10 * float(cycle) + 5 * float(identity), rel=1e-6)
    off = UnpairedTranslation({"cycle_weight": 0.0, "identity_weight": 0.0})
    assert float(off.generator_objective(torch.tensor(0.7), generate(x), x, generate=generate)) == pytest.approx(0.7)
    assert torch.equal(swap_halves(swap_halves(x)), x) and torch.equal(task.baseline(x)[..., :28], b)


def test_a_training_step_passes_the_generator_to_the_objective_inside_the_graph():
    host = plugins.load()
    hparams = {**UnpairedTranslation.defaults, **host.architectures.get("cyclegan").defaults, **host.losses.get("lsgan").defaults,
               "cg_ngf": 2, "cg_ndf": 2, "cg_blocks": 0, "batch_size": 8}
    ds = Mnist5kDigits28()
    x = ds.load("val")[0][:16]
    task = UnpairedTranslation(hparams)
    seen = []
    objective = task.generator_objective
    task.generator_objective = lambda adv, fake, target, generate=None: seen.append((fake, target)) or objective(
        adv, fake, target, generate=generate)
    trainer = Trainer(host.architectures.get("cyclegan")(), host.losses.get("lsgan")(hparams), [], ds.info,
                      x, None, hparams, seed=0, task=task, train_inputs=x)
    before = [p.detach().clone() for p in trainer.G.parameters()]
    trainer.step()
    (fake, target), = seen
    assert fake.requires_grad and target.shape == fake.shape == (8, 1, 28, 56)
    rows = {int(torch.nonzero((x == t).flatten(1).all(1))[0]) for t in target}
    assert len(rows) == 8   # the targets are the joint samples the generator was given
    assert all(not torch.equal(p, q) for p, q in zip(before, trainer.G.parameters()) if p.numel() > 1)


def _frechet_scipy(f1: np.ndarray, f2: np.ndarray) -> float:
    m1, m2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    root = linalg.sqrtm(s1 @ s2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def test_frechet_distance_is_scipys():
    rng = np.random.default_rng(0)
    f1, f2 = rng.normal(size=(400, 8)), rng.normal(0.5, 1.5, size=(300, 8))
    assert frechet_distance(torch.from_numpy(f1), torch.from_numpy(f2)) == pytest.approx(_frechet_scipy(f1, f2), rel=1e-6)


def test_the_no_translation_baseline_scores_the_domain_gap_computed_independently():
    ds = Mnist5kDigits28()
    task = UnpairedTranslation(UnpairedTranslation.defaults)
    inputs = ds.load_inputs("test")
    ctx = SamplingContext(lambda n, gen: (None, None), ds, ds.info, 0,
                          paired_fn=lambda split: (task.baseline(ds.load_inputs(split)), ds.load(split)[0]),
                          translate_fn=task.baseline)
    values = {v.name: v for v in CycleTranslation().compute(ctx, "test")}
    assert values["cycle_l1_a"].value == 0 and values["cycle_l1_b"].value == 0   # untranslated twice: the input
    judge_a, judge_b = get_evaluator(Mnist5k()), get_evaluator(Digits28())
    mnist, mnist_y = Mnist5k().load("test")
    digits = Digits28().load("test")[0]
    # A -> B untranslated: MNIST digits in digits28's classifier's feature space, against real digits28
    expected_ab = _frechet_scipy(judge_b.features(mnist).double().numpy(), judge_b.features(digits).double().numpy())
    assert values["fid_lenet_ab"].value == pytest.approx(expected_ab, rel=1e-4)
    assert values["fid_lenet_ab"].extractor == judge_b.name and values["fid_lenet_ba"].extractor == judge_a.name
    kept = float((judge_b.predict(mnist) == mnist_y).double().mean())
    assert values["label_kept_ab"].value == pytest.approx(kept)
    assert values["fid_lenet_mean"].value == pytest.approx((values["fid_lenet_ab"].value + values["fid_lenet_ba"].value) / 2)
    assert values["fid_lenet_ab"].value > 50   # two different digit sources: a real gap to close
    assert all(v.num_samples == len(inputs) for v in values.values())


def test_a_cyclegan_run_trains_and_scores_both_directions_beside_the_baseline(tmp_path, capsys):
    from ganbench import cli as cli_mod
    out = CliRunner().invoke(cli_mod.cli, [
        "run", "--task", "unpaired_translation", "--arch", "cyclegan", "--loss", "lsgan", "--dataset",
        "mnist5k_digits28", "--budget", "steps=2", "--threads", "1", "-q", "--results-dir", str(tmp_path),
        "--hparam", "cg_ngf=2", "--hparam", "cg_ndf=2", "--hparam", "cg_blocks=0", "--hparam", "batch_size=8",
        "--json"])
    assert out.exit_code == 0, out.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    result = json.loads((run_dir / "result.json").read_text())
    spec = json.loads((run_dir / "spec.json").read_text())["spec"]
    assert result["status"] == "completed" and spec["task"] == "unpaired_translation"
    assert spec["hparams"]["cycle_weight"] == 10.0 and spec["hparams"]["identity_weight"] == 5.0
    assert set(result["final"]) == {"fid_lenet_mean", "fid_lenet_ab", "fid_lenet_ba", "label_kept_ab",
                                    "label_kept_ba", "cycle_l1_a", "cycle_l1_b"}
    assert 0 < result["final"]["cycle_l1_a"]["value"] <= 2
    with np.load(run_dir / "samples.npz") as saved:   # every test output, with its input
        assert saved["samples"].shape == saved["inputs"].shape == (1000, 1, 28, 56)
    # the baseline row, and no real-data row: real data has no translation to score
    kinds = sorted(p.name.split("-")[0] for p in (tmp_path / "references").iterdir())
    assert kinds == ["baseline"]
    # a paired architecture cannot serve the task: one line with the reason, exit 2, nothing run
    code, _, err = invoke_cli(capsys, "run", "--task", "unpaired_translation", "--arch", "pix2pix", "--loss", "lsgan",
                              "--dataset", "mnist5k_digits28", "--budget", "steps=2", "-q",
                              "--results-dir", tmp_path / "other")
    assert code == 2 and "task unpaired_translation: architecture pix2pix serves paired_translation" in err
    assert not (tmp_path / "other" / "runs").exists()


def test_techniques_that_add_to_each_samples_one_score_refuse_the_two_domain_discriminator():
    from ganbench import runner
    from ganbench.spec import Budget, RunSpec
    host = plugins.load()

    def reason(technique):
        return runner.incompatibility(host, RunSpec("cyclegan", "lsgan", "mnist5k_digits28", 0, Budget("steps", 2),
                                                    techniques=(technique,), task="unpaired_translation"))
    assert reason("minibatch_stddev") == ("minibatch_stddev: adds to each sample's one score (declares "
                                          "one_score_per_sample); cyclegan's D gives 2 per sample")
    assert "minibatch_discrimination" in reason("minibatch_discrimination")
    assert reason("ema") is None and reason("spectral_norm") is None and reason("experience_replay") is None


def test_a_cyclegan_run_stopped_after_a_checkpoint_resumes_to_the_same_weights(tmp_path, monkeypatch):
    run = ["run", "--task", "unpaired_translation", "--arch", "cyclegan", "--loss", "lsgan", "--dataset",
           "mnist5k_digits28", "--budget", "steps=6", "--eval-every", "3", "--threads", "1", "-q",
           "--hparam", "cg_ngf=2", "--hparam", "cg_ndf=2", "--hparam", "cg_blocks=1", "--hparam", "batch_size=8"]
    whole, resumed = run_stopped_and_resumed(run, tmp_path, monkeypatch, stop_at_step=3)
    assert resumed["steps"] == whole["steps"] == 6 and resumed["weights_hash"] == whole["weights_hash"]
    assert {k: v["value"] for k, v in resumed["final"].items()} == {k: v["value"] for k, v in whole["final"].items()}
