"""ProGAN: the resolution schedule is a pure function of the images shown, G and D keep the data's
side in every phase and fade in continuously, the equalised learning rate scales by He's constant,
and a run stopped in the middle of a fade-in resumes to the uninterrupted run through `ganbench run`."""

from __future__ import annotations

import json
import math
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from ganbench import hookimpl, plugins, runner
from ganbench.api import DataInfo, Metric, MetricValue
from ganbench.errors import UsageError
from ganbench.spec import Budget, RunSpec
from ganbench.testing.common import stopped_after_checkpoint, through_a_checkpoint
from ganbench.training import Trainer
from ganbench_plugins.archs.progan import EqualConv2d, EqualLinear, ProGAN, Schedule
from ganbench_plugins.losses.wgan_gp import WGANGP
from ganbench_plugins.techniques.ema import EMA

MNIST = DataInfo((1, 28, 28), num_classes=10)
CIFAR = DataInfo((3, 32, 32), num_classes=10)
TINY = {"z_dim": 8, "progan_ch": 4, "batch_size": 8}


pytestmark = pytest.mark.usefixtures("one_thread")


def _hparams(**extra):
    return {**ProGAN.defaults, **TINY, **extra}


def _build(data=MNIST, seed=0, **extra):
    torch.manual_seed(seed)
    return ProGAN().build(data, _hparams(**extra))


# -- the schedule -----------------------------------------------------------------------------------

def test_the_schedule_grows_7_14_28_on_mnist_and_4_to_32_on_32px_images():
    hp = _hparams(progan_stable_kimg=2, progan_fade_kimg=4)
    mnist = ProGAN.schedule(MNIST, hp)
    assert mnist == Schedule((7, 14, 28), stable=2000, fade=4000)
    expected = {
        0: (0, 1.0),           # start: 7 px alone
        1999: (0, 1.0),        # end of the first stable phase
        2000: (1, 0.0),        # 14 px starts fading in
        3000: (1, 0.25),
        4000: (1, 0.5),        # mid fade-in
        5999: (1, 3999 / 4000),
        6000: (1, 1.0),        # end of the fade: 14 px alone
        7999: (1, 1.0),
        8000: (2, 0.0),        # 28 px starts fading in
        11000: (2, 0.75),
        12000: (2, 1.0),       # final: 28 px alone, for the rest of the run
        10 ** 9: (2, 1.0),
    }
    assert {n: mnist.at(n) for n in expected} == expected
    assert mnist.final_images == ProGAN.images_until_final(MNIST, hp) == 12000
    assert ProGAN.schedule(CIFAR, hp).sides == (4, 8, 16, 32)
    assert ProGAN.schedule(CIFAR, hp).final_images == 18000
    # the start side is part of the schedule: 8 -> 16 -> 32
    assert ProGAN.schedule(CIFAR, {**hp, "progan_start_side": 8}).sides == (8, 16, 32)
    assert ProGAN.schedule(MNIST, {**hp, "progan_start_side": 28}).final_images == 0
    with pytest.raises(ValueError, match="progan_start_side 5 is not a side 28 px images halve to"):
        ProGAN.schedule(MNIST, {**hp, "progan_start_side": 5})
    # no fade-in: each resolution switches on at once
    assert Schedule((7, 14), stable=100, fade=0).at(99) == (0, 1.0)
    assert Schedule((7, 14), stable=100, fade=0).at(100) == (1, 1.0)


def test_supported_sides_are_4_or_7_times_a_power_of_two():
    for side in (4, 7, 8, 14, 28, 32, 56, 64, 128):
        assert ProGAN.supports(DataInfo((3, side, side))) is None, side
    for shape in ((3, 48, 48), (3, 32, 28), (1, 12, 12), (2,)):
        reason = ProGAN.supports(DataInfo(shape, kind="image" if len(shape) == 3 else "points"))
        assert isinstance(reason, str) and "\n" not in reason and reason.startswith("progan"), shape


# -- the networks in every phase --------------------------------------------------------------------

PHASES = [0, 3000, 6000, 7000, 9000, 12000, 20000]  # stable 7, fading 14, fading 14, 14, fading 28, 28, 28


@pytest.mark.parametrize("data", [MNIST, CIFAR], ids=["28px", "32px"])
def test_g_returns_and_d_takes_the_full_side_in_every_phase(data):
    G, D = _build(data, progan_stable_kimg=3, progan_fade_kimg=3)
    z = torch.randn(4, G.z_dim)
    seen = []
    D.from_rgb[0].register_forward_hook(lambda m, args, out: seen.append(args[0].shape[-1]))
    for images in PHASES:
        ProGAN().set_progress(G, D, images)
        with torch.no_grad():
            x = G(z)
            assert x.shape == (4, *data.shape) and x.abs().max() <= 1
            assert D(x).shape == (4,)
    assert seen and set(seen) == {G.schedule.sides[0]}  # the lowest fromRGB reads the input pooled to its side


def _outputs(G, D, images, z, x):
    ProGAN().set_progress(G, D, images)
    with torch.no_grad():
        return G(z), D(x)


@pytest.mark.parametrize("data", [MNIST, CIFAR], ids=["28px", "32px"])
def test_a_fade_in_starts_at_the_previous_phase_and_ends_at_the_next(data):
    G, D = _build(data, progan_stable_kimg=3, progan_fade_kimg=3)
    z, x = torch.randn(4, G.z_dim), torch.rand(4, *data.shape) * 2 - 1
    for level in range(1, len(G.schedule.sides)):
        fade_start = (level - 1) * 6000 + 3000
        before = _outputs(G, D, fade_start - 1, z, x)      # the last step of the previous phase
        at_zero = _outputs(G, D, fade_start, z, x)         # alpha = 0
        halfway = _outputs(G, D, fade_start + 1500, z, x)  # alpha = 0.5
        near_one = _outputs(G, D, fade_start + 2999, z, x)
        after = _outputs(G, D, fade_start + 3000, z, x)    # the new resolution alone
        assert G.schedule.at(fade_start) == (level, 0.0)
        assert torch.equal(at_zero[0], before[0]) and torch.equal(at_zero[1], before[1])
        assert not torch.allclose(halfway[0], before[0]) and not torch.allclose(halfway[0], after[0])
        for i in (0, 1):  # G's images, D's scores: 1/3000 of the way from the new resolution alone
            assert (near_one[i] - after[i]).abs().max() <= 0.01 * (halfway[i] - after[i]).abs().max()


def test_g_is_at_its_resolution_upsampled_and_d_pools_it_back():
    G, D = _build(progan_stable_kimg=3, progan_fade_kimg=3)
    z = torch.randn(4, G.z_dim)
    for images, side in ((0, 7), (6000, 14), (12000, 28)):
        _, alpha = G.schedule.at(images)
        assert alpha == 1.0
        x, _ = _outputs(G, D, images, z, torch.zeros(4, *MNIST.shape))
        small = F.avg_pool2d(x, 28 // side) if side < 28 else x
        # nearest upsampling then average pooling is the identity (up to the order of a float sum)
        torch.testing.assert_close(F.interpolate(small, scale_factor=28 // side, mode="nearest"), x)


# -- equalised learning rate, pixel norm, minibatch stddev -----------------------------------------

def test_equalised_lr_scales_the_stored_weight_by_hes_constant_at_run_time():
    torch.manual_seed(0)
    conv, linear, to_rgb = EqualConv2d(32, 16, 3), EqualLinear(64, 8), EqualConv2d(32, 3, 1, gain=1.0)
    x, v = torch.randn(2, 32, 5, 5), torch.randn(2, 64)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight * math.sqrt(2 / (32 * 9)), conv.bias, padding=1))
    torch.testing.assert_close(linear(v), F.linear(v, linear.weight * math.sqrt(2 / 64), linear.bias))
    torch.testing.assert_close(to_rgb(x), F.conv2d(x, to_rgb.weight / math.sqrt(32), to_rgb.bias))
    # stored as N(0, 1), biases 0, so the effective weights have He's standard deviation
    big = EqualConv2d(256, 256, 3)
    assert abs(big.weight.std().item() - 1) < 0.01 and big.bias.abs().max() == 0
    # the gradient reaches the stored weight through the run-time scale
    conv(x).sum().backward()
    expected = torch.autograd.grad(F.conv2d(x, conv.weight * conv.scale, conv.bias, padding=1).sum(), conv.weight)[0]
    torch.testing.assert_close(conv.weight.grad, expected)
    G, D = _build()
    assert all(isinstance(m, (EqualConv2d, EqualLinear)) for net in (G, D) for m in net.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))


def test_g_normalises_each_pixels_features_and_d_sees_the_minibatch_stddev():
    G, D = _build(progan_stable_kimg=3, progan_fade_kimg=3)
    ProGAN().set_progress(G, D, 12000)
    features = []
    G.to_rgb[-1].register_forward_hook(lambda m, args, out: features.append(args[0]))
    stats = []
    D.final_conv.register_forward_hook(lambda m, args, out: stats.append(args[0]))
    with torch.no_grad():
        D(G(torch.randn(8, G.z_dim)))
    mean_square = features[0].pow(2).mean(dim=1)
    torch.testing.assert_close(mean_square, torch.ones_like(mean_square), rtol=1e-4, atol=1e-4)
    (h,) = stats
    assert h.shape[1] == D.dense.in_features // (7 * 7) + 1  # one more feature map
    # groups of 4 samples: i, i + 2, i + 4, i + 6 (batch 8), as the paper's code reshapes
    std = h[:, :-1].reshape(4, 2, h.shape[1] - 1, *h.shape[2:]).var(dim=0, unbiased=False)
    expected = (std + 1e-8).sqrt().mean(dim=(1, 2, 3))
    torch.testing.assert_close(h[:, -1, 0, 0], expected.repeat(4))


# -- in the trainer ---------------------------------------------------------------------------------

def _trainer(techniques=(), **extra):
    hp = {**WGANGP.defaults, **_hparams(progan_stable_kimg=0.016, progan_fade_kimg=0.016, n_critic=1), **extra}
    for t in techniques:
        hp.update(t.defaults)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(64, *MNIST.shape, generator=gen) * 2 - 1
    return Trainer(ProGAN(), WGANGP(hp), [t(hp) for t in techniques], MNIST, x, None, hp, seed=0)


def test_the_trainer_sets_the_phase_before_each_step_and_for_evaluation():
    trainer = _trainer([EMA])
    seen = []
    trainer.G.register_forward_pre_hook(lambda m, args: seen.append(int(m.images_shown)))
    for _ in range(3):
        trainer.step()
    assert set(seen) == {0, 8, 16}  # 8 images a step: the progress at each step's start
    G = trainer.evaluation_generator()
    assert G is trainer.techniques[0].average and int(G.images_shown) == int(trainer.G.images_shown) == 24
    assert int(trainer.D.images_shown) == 24


def test_a_trainer_resumed_in_the_middle_of_a_fade_in_is_bit_identical():
    straight = _trainer()
    for _ in range(10):
        straight.step()
    first = _trainer()
    for _ in range(3):
        first.step()
    assert first.G.schedule.at(first.images_shown) == (1, 0.5)  # 24 images: halfway into 14 px
    resumed = _trainer()
    resumed.load_state_dict(through_a_checkpoint(first.state_dict()))
    for _ in range(7):
        resumed.step()
    assert resumed.G.schedule.at(resumed.images_shown) == (2, 1.0)
    assert resumed.weights_hash() == straight.weights_hash()


# -- from the command line --------------------------------------------------------------------------

class PixelStats(Metric):
    """Mean and standard deviation of the samples' pixels (a test double: no evaluator to train)."""

    name = "pixel_stats"
    ranks = {"pixel_mean": 0}

    def compute(self, ctx, split):
        x = ctx.sample(64)
        return [MetricValue("pixel_mean", float(x.mean()), False, 64, split),
                MetricValue("pixel_std", float(x.std()), True, 64, split)]


@pytest.fixture(scope="module")
def cli_host():
    """The installed plugins and PixelStats, loaded once: every invocation below is given it."""
    module = types.ModuleType("pixel_stats_plugin")
    module.ganbench_register_metrics = hookimpl(lambda registry: registry.add(PixelStats))
    return plugins.load(extra=[("pixel_stats", module)])


# stable = fade = 16 images = 2 steps of 8: 7 px for steps 1-2, fading to 14 px for 3-4, 14 px for 5-6,
# fading to 28 px for 7-8, 28 px from step 9 on; 0.096 kimg is 12 steps. Evaluated and saved at step 7.
RUN = ["run", "--arch", "progan", "--loss", "wgan_gp", "--dataset", "mnist5k", "--budget", "kimg=0.096",
       "--hparam", "batch_size=8", "--hparam", "progan_ch=4", "--hparam", "z_dim=8", "--hparam", "n_critic=1",
       "--hparam", "progan_stable_kimg=0.016", "--hparam", "progan_fade_kimg=0.016",
       "--metric", "pixel_stats", "--eval-every", "7", "--threads", "1", "--quiet"]


def _result(results: Path) -> tuple[Path, dict]:
    (run_dir,) = (results / "runs").iterdir()
    return run_dir, json.loads((run_dir / "result.json").read_text())


def test_a_run_stopped_in_the_middle_of_a_fade_in_resumes_to_the_uninterrupted_run(tmp_path, cli_host, monkeypatch):
    from ganbench import cli as cli_mod
    out = CliRunner().invoke(cli_mod.cli, [*RUN, "--results-dir", str(tmp_path / "whole")], obj={"host": cli_host})
    assert out.exit_code == 0, out.output
    whole_dir, whole = _result(tmp_path / "whole")
    assert whole["status"] == "completed" and whole["steps"] == 12 and whole["images_shown"] == 96
    # it trained through every phase and ended at 28 px alone
    assert (whole_dir / "samples" / "final.png").exists()
    resolved = json.loads((whole_dir / "spec.json").read_text())["spec"]["hparams"]
    assert ProGAN.schedule(MNIST, resolved).at(96) == (2, 1.0)

    def in_a_fade(run):   # fading in 28 px (after step 7: 56 images, alpha 0.5)
        level, alpha = run.trainer.G.schedule.at(run.trainer.images_shown)
        return level == 2 and 0 < alpha < 1

    with stopped_after_checkpoint(monkeypatch, in_a_fade) as stopped_at:
        out = CliRunner().invoke(cli_mod.cli, [*RUN, "--results-dir", str(tmp_path / "stopped")],
                                 obj={"host": cli_host})
    assert out.exit_code != 0 and stopped_at == [7]  # click turns the interrupt into an abort
    (run_dir,) = (tmp_path / "stopped" / "runs").iterdir()
    assert not (run_dir / "result.json").exists()
    out = CliRunner().invoke(cli_mod.cli, [*RUN, "--results-dir", str(tmp_path / "stopped")], obj={"host": cli_host})
    assert out.exit_code == 0, out.output
    _, resumed = _result(tmp_path / "stopped")
    assert resumed["weights_hash"] == whole["weights_hash"]
    values = lambda metrics: {k: v["value"] for k, v in metrics.items()}  # noqa: E731
    assert values(resumed["final"]) == values(whole["final"])
    assert resumed["selected"]["step"] == whole["selected"]["step"] == 7  # best.pt: a G saved mid-fade
    assert values(resumed["selected"]["metrics"]) == values(whole["selected"]["metrics"])


@pytest.mark.parametrize("args, reason", [
    (["--budget", "kimg=20"], "progan: the budget of 20 kimg ends before its networks reach their final state "
                              "at 24 kimg"),
    (["--budget", "kimg=0.05", "--hparam", "progan_start_side=5"], "progan: progan_start_side 5 is not a side"),
    (["--budget", "flops=1e12"], "progan: its networks grow during training"),
    (["--budget", "kimg=30", "--ddp", "2", "--loss", "nonsaturating"], "--ddp: progan grows during training"),
])
def test_what_progan_cannot_run_is_skipped_with_its_reason(tmp_path, args, reason, cli_host):
    from ganbench.cli import cli
    res = CliRunner().invoke(cli, ["run", "--arch", "progan", "--loss", "wgan_gp", "--dataset", "mnist5k", *args,
                                   "--dry-run", "--results-dir", str(tmp_path)], obj={"host": cli_host})
    assert isinstance(res.exception, UsageError) and "no compatible combination" in str(res.exception)
    assert reason in res.output


def test_a_run_that_stops_before_the_final_resolution_says_so(tmp_path, capsys, cli_host):
    spec = RunSpec(arch="progan", loss="wgan_gp", dataset="mnist5k", seed=0, budget=Budget("steps", 2),
                   hparams={**TINY, "n_critic": 1}, metrics=(), threads=1)
    result = runner.execute(spec, tmp_path, host=cli_host)
    assert result["status"] == "completed"
    assert "before progan reached its final networks at 24 kimg" in capsys.readouterr().err
