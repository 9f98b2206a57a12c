"""BiGAN and ALI (plugins/archs/bigan.py): D judges (x, z) pairs, E trains with G on the inverted
objective and travels with G through checkpoints and weights_hash, a killed run resumes to the
uninterrupted one, what cannot work with pairs is skipped with its reason, and the encoder metrics
(reconstruction, linear_probe) agree with independent computations."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from ganbench import plugins, runner
from ganbench.api import DataInfo
from ganbench.cli import cli
from ganbench.errors import ExitCode, UsageError
from ganbench.evaluation import SamplingContext, encoder_functions, evaluate
from ganbench.spec import Budget, RunSpec
from ganbench.testing.common import through_a_checkpoint
from ganbench.training import Trainer
from ganbench_plugins.archs.bigan import ALI, BiGAN
from ganbench_plugins.datasets.digits import Digits
from ganbench_plugins.datasets.ring8 import Ring8
from ganbench_plugins.losses.nonsaturating import NonSaturating
from ganbench_plugins.metrics.linear_probe import LinearProbe
from ganbench_plugins.metrics.reconstruction import Reconstruction

BIN = Path(sys.executable).parent
POINTS = DataInfo((2,), kind="points", num_modes=8)
TINY = {"z_dim": 8, "points_z_dim": 2, "hidden": 16, "depth": 2, "ngf": 4, "nef": 4, "ndf": 4, "d_hidden": 16}
TINY_ARGS = [arg for k, v in TINY.items() for arg in ("--hparam", f"{k}={v}")]
HOST = plugins.load()


pytestmark = pytest.mark.usefixtures("one_thread")


def _trainer(arch=BiGAN, techniques=(), seed=0, **hparams):
    hp = {**arch.defaults, **NonSaturating.defaults, **TINY, "batch_size": 16, **hparams}
    x = Ring8().load("train")[0][:256]
    return Trainer(arch(), NonSaturating(hp), [HOST.techniques.get(t)(hp) for t in techniques], POINTS, x, None,
                   hp, seed=seed)


# -- the contract: pairs, the inverted objective, E inside G -----------------------------------------

def test_d_judges_real_pairs_x_ex_and_fake_pairs_gz_z_and_g_minimises_the_swapped_d_loss():
    trainer = _trainer()
    calls = []
    trainer.D.register_forward_pre_hook(lambda module, args: calls.append(tuple(a.detach().clone() for a in args)))
    G0 = copy.deepcopy(trainer.G)
    losses = trainer.step()
    assert len(calls) == 4  # D's update: real pair, fake pair; G/E's update: fake pair, real pair
    (x_r, code_r), (x_f, z_f), (x_g, z_g), (x_e, code_e) = calls
    with torch.no_grad():
        torch.testing.assert_close(code_r, G0.encode(x_r, None))   # (x, E(x)), E as it was before the step
        torch.testing.assert_close(x_f, G0(z_f))                     # (G(z), z)
        torch.testing.assert_close(x_g, G0(z_g))
        torch.testing.assert_close(code_e, G0.encode(x_e, None))
        assert code_r.shape == z_f.shape == (16, 2) and not torch.equal(x_r, x_e)  # G/E draws its own batch
        # loss_g = D's loss with the roles swapped, scored by D after its update (G's update leaves D alone)
        fake, real = trainer.D(x_g, z_g), trainer.D(x_e, code_e)
        swapped = F.softplus(-fake).mean() + F.softplus(real).mean()
    torch.testing.assert_close(losses["loss_g"], swapped)


def test_the_encoder_is_trained_by_the_generator_optimiser_and_not_by_ds():
    trainer = _trainer()
    g_params = {id(p) for group in trainer.opt_g.param_groups for p in group["params"]}
    encoder = list(trainer.G.encoder.parameters())
    assert encoder and all(id(p) in g_params for p in encoder)
    assert not {id(p) for group in trainer.opt_d.param_groups for p in group["params"]} & {id(p) for p in encoder}
    before = copy.deepcopy(trainer.G.encoder.state_dict())
    trainer.discriminator_update(trainer.D, trainer.opt_d, 0)
    assert all(torch.equal(before[k], v) for k, v in trainer.G.encoder.state_dict().items()), "D's update moved E"
    for _ in range(3):
        trainer.step()
    assert any(not torch.equal(before[k], v) for k, v in trainer.G.encoder.state_dict().items()), "E never trained"


@pytest.mark.parametrize("arch", [BiGAN, ALI])
def test_e_is_saved_restored_and_hashed_with_g(arch):
    trainer = _trainer(arch)
    for _ in range(3):
        trainer.step()
    state = through_a_checkpoint(trainer.state_dict())
    assert any(k.startswith("encoder.") for k in state["G"])
    resumed = _trainer(arch, seed=0)
    resumed.load_state_dict(state)
    assert resumed.weights_hash() == trainer.weights_hash()
    for _ in range(3):
        trainer.step(), resumed.step()
    assert resumed.weights_hash() == trainer.weights_hash()  # ALI's encoder noise is on the saved latent stream
    digest = trainer.weights_hash()
    with torch.no_grad():
        next(trainer.G.encoder.parameters()).view(-1)[0] += 1.0
    assert trainer.weights_hash() != digest, "weights_hash must cover E"


def test_ali_samples_its_code_by_reparameterisation_and_evaluates_the_mean():
    torch.manual_seed(0)
    G, _ = ALI().build(POINTS, {**ALI.defaults, **TINY})
    x = torch.randn(64, 2)
    mean, log_sigma = G.encoder(x).chunk(2, dim=1)
    gen = torch.Generator().manual_seed(3)
    eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(G.encode(x, gen), mean + log_sigma.exp() * eps)
    torch.testing.assert_close(G.encode(x, None), mean)
    G.encode(x, torch.Generator().manual_seed(3)).sum().backward()
    assert all(p.grad is not None for p in G.encoder.parameters())  # sigma's half trains too


def test_ema_averages_the_encoder_and_metrics_read_the_averaged_one():
    trainer = _trainer(techniques=("ema",), ema_decay=0.5)
    for _ in range(3):
        trainer.step()
    averaged = trainer.evaluation_generator()
    assert averaged is not trainer.G
    x = torch.randn(32, 2)
    fns = encoder_functions(averaged, "cpu", POINTS)
    with torch.no_grad():
        torch.testing.assert_close(fns["encode_fn"](x), averaged.encode(x, None))
        assert not torch.equal(fns["encode_fn"](x), trainer.G.encode(x, None))


# -- refusals, from declarations ------------------------------------------------------------------

@pytest.mark.parametrize("loss, techniques, ddp, reason", [
    ("wgan_gp", (), 1, "bigan: wgan_gp's penalty differentiates D's gradient with respect to its input"),
    ("r1", (), 1, "bigan: r1's penalty differentiates D's gradient"),
    ("nonsaturating", ("pacgan",), 1, "pacgan: does not declare encoder_compatible"),
    ("nonsaturating", ("instance_noise",), 1, "instance_noise: does not declare encoder_compatible"),
    ("nonsaturating", ("ema", "experience_replay"), 1, "experience_replay: does not declare encoder_compatible"),
    ("nonsaturating", ("feature_matching",), 1, "feature_matching: bigan declares no discriminator features"),
    ("nonsaturating", (), 2, "--ddp: bigan's encoder trains outside G's forward"),
])
def test_what_pairs_cannot_do_is_refused_with_its_reason(loss, techniques, ddp, reason):
    spec = RunSpec("bigan", loss, "ring8", 0, Budget("steps", 2), techniques=techniques, ddp=ddp)
    assert reason in (runner.incompatibility(HOST, spec) or "")


def test_a_refused_combination_is_skipped_with_its_reason_on_the_command_line(tmp_path):
    res = CliRunner().invoke(cli, ["run", "--arch", "bigan", "--dataset", "ring8", "--loss", "wgan_gp", "--loss",
                                   "hinge", "--dry-run", "--results-dir", str(tmp_path)])
    assert "wgan_gp's penalty differentiates D's gradient" in res.output, res.output


def test_seeds_are_not_vectorised_and_compatible_techniques_are_accepted():
    from ganbench import vectorized
    spec = RunSpec("bigan", "nonsaturating", "ring8", 0, Budget("steps", 2))
    assert "not vectorised" in vectorized.unsupported(HOST, spec)
    for technique in ("ema", "ttur", "spectral_norm", "historical_averaging", "unrolled"):
        assert runner.incompatibility(HOST, RunSpec("ali", "wgan", "ring8", 0, Budget("steps", 2),
                                                    techniques=(technique,))) is None


def test_encoder_metrics_apply_only_where_an_encoder_is_declared(tmp_path):
    res = CliRunner().invoke(cli, ["run", "--arch", "mlp", "--loss", "nonsaturating", "--dataset", "ring8",
                                   "--metric", "reconstruction", "--dry-run", "--results-dir", str(tmp_path)])
    assert isinstance(res.exception, UsageError)
    assert "reconstruction: needs an encoder, and mlp declares none" in res.output, res.output
    from ganbench import sweep
    plan = sweep.expand(sweep.command_line_study(["mlp", "bigan"], ["nonsaturating"], [], ["mnist5k"], (0,),
                                                 Budget("steps", 2), []), HOST)
    metrics = {spec.arch: set(spec.metrics) for spec in plan.runs}
    assert {"reconstruction", "linear_probe"} <= metrics["bigan"]
    assert not {"reconstruction", "linear_probe"} & metrics["mlp"] and metrics["mlp"]


# -- the metrics against independent computations ----------------------------------------------------

def _context(dataset, encode_fn=None, decode_fn=None):
    return SamplingContext(lambda n, gen: (dataset.load("train")[0][:n], None), dataset, dataset.info, 0,
                           encode_fn=encode_fn, decode_fn=decode_fn)


def test_reconstruction_of_an_inverse_pair_is_zero_and_of_a_shift_its_squared_norm():
    ring = Ring8()
    x, _ = ring.load("val")
    [exact] = Reconstruction().compute(_context(ring, lambda x: x * 2, lambda z: z / 2), "val")
    assert exact.name == "reconstruction_error" and exact.value == 0.0 and exact.num_samples == len(x)
    assert not exact.higher_is_better
    [shifted] = Reconstruction().compute(_context(ring, lambda x: x, lambda z: z + torch.tensor([0.3, -0.4])), "val")
    assert shifted.value == pytest.approx(0.25, rel=1e-6)  # 0.3^2 + 0.4^2 for every sample


def test_probe_accuracy_equals_scikit_learns_on_raw_pixels_and_on_a_fixed_encoder():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits
    digits = Digits()
    (x_train, y_train), (x_test, y_test) = digits.load("train"), digits.load("test")
    projection = torch.randn(64, 12, generator=torch.Generator().manual_seed(0))
    for encode in (lambda x: x.flatten(1), lambda x: torch.tanh(x.flatten(1) @ projection)):
        [value] = LinearProbe().compute(_context(digits, encode), "test")
        with threadpool_limits(limits=1):  # as the metric fits it (at the run's 1 thread): fast, and the same sums
            direct = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
                encode(x_train).double().numpy(), y_train.numpy()).score(encode(x_test).double().numpy(),
                                                                          y_test.numpy())
        assert value.name == "probe_accuracy" and value.higher_is_better and value.num_samples == len(x_test)
        assert value.value == pytest.approx(direct, abs=1e-12)
    assert value.value < 0.99  # a 12-d random projection loses information: the probe sees it


def test_without_an_encoder_the_metrics_fail_alone_and_do_not_apply_to_unlabelled_data():
    values, errors = evaluate([Reconstruction(), LinearProbe()], _context(Digits()), "val")
    assert values == [] and set(errors) == {"reconstruction", "linear_probe"}
    assert "no encoder" in errors["reconstruction"]
    assert "needs class labels" in LinearProbe.supports(Ring8.info, "ring8")
    assert Reconstruction.needs_encoder and LinearProbe.needs_encoder


# -- end to end through `ganbench run` -----------------------------------------------------------------

def _result(results: Path) -> dict:
    (run_dir,) = (results / "runs").iterdir()
    return json.loads((run_dir / "result.json").read_text())


@pytest.mark.parametrize("arch, dataset, metrics, extra", [
    ("bigan", "ring8", ["mode_coverage", "reconstruction"], ["--budget", "steps=40", "--hparam", "batch_size=32"]),
    ("ali", "mnist5k", ["reconstruction", "linear_probe"], ["--budget", "steps=6", "--hparam", "batch_size=8",
                                                             "--eval-every", "6"]),
])
def test_runs_to_completion_from_the_command_line_with_encoder_metrics(tmp_path, arch, dataset, metrics, extra):
    results = tmp_path / "results"
    res = CliRunner().invoke(cli, ["run", "--arch", arch, "--loss", "nonsaturating", "--dataset", dataset,
                                   *[a for m in metrics for a in ("--metric", m)], *TINY_ARGS, *extra,
                                   "--threads", "1", "--quiet", "--results-dir", str(results)])
    assert res.exit_code == 0, res.output
    result = _result(results)
    assert result["status"] == "completed" and not result["metric_errors"], result
    assert "reconstruction_error" in result["final"] and result["final"]["reconstruction_error"]["value"] > 0
    if dataset == "mnist5k":
        assert 0.1 < result["final"]["probe_accuracy"]["value"] <= 1
        assert result["final"]["probe_accuracy"]["reference_split"] == "test"
    references = list((results / "references").iterdir()) if (results / "references").exists() else []
    if dataset == "ring8":   # mode_coverage scores real data; reconstruction needs an encoder it has not
        (reference,) = references
        ref = json.loads((reference / "result.json").read_text())
        assert ref["metric_errors"] == {} and "reconstruction_error" not in ref["final"] and "modes" in ref["final"]
    else:                    # every metric needs an encoder: no real-data row at all, rather than an empty one
        assert references == []


def _study(tmp_path: Path) -> Path:
    path = tmp_path / "bigan.toml"
    path.write_text("""
[study]
name = "bigan-resume"
[matrix]
archs = ["ali"]
losses = ["nonsaturating"]
datasets = ["ring8"]
metrics = ["reconstruction"]
[budget]
default = "steps=300"
[hparams]
batch_size = 16
hidden = 16
[run]
threads = 1
evaluations = 2
checkpoint_every = 50
""")
    return path


def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    study = _study(tmp_path)

    def in_process(results: Path) -> dict:
        res = CliRunner().invoke(cli, ["run", "--study", str(study), "--results-dir", str(results), "-q"])
        assert res.exit_code == ExitCode.OK, res.output
        return _result(results)

    expected = in_process(tmp_path / "whole")
    assert expected["status"] == "completed" and expected["steps"] == 300

    out = tmp_path / "killed"
    # a process of its own, in its own session: SIGKILL reaches the run as a crash would
    proc = subprocess.Popen([str(BIN / "ganbench"), "run", "--study", str(study), "--results-dir", str(out), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list(out.glob("runs/*/checkpoint.pt")):
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    (run,) = (out / "runs").iterdir()
    assert not (run / "result.json").exists(), "killed before the end"
    steps_at_kill = torch.load(run / "checkpoint.pt", weights_only=True)["trainer"]["steps_done"]
    assert 0 < steps_at_kill < 300
    result = in_process(out)  # resumes from the checkpoint the killed process left
    assert result["weights_hash"] == expected["weights_hash"]
    assert result["final"]["reconstruction_error"]["value"] == expected["final"]["reconstruction_error"]["value"]
    assert np.isfinite(result["final"]["reconstruction_error"]["value"])
