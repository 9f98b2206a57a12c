"""dp_sgd (DPGAN with DP-SGD through Opacus): the privacy accounting, the clipping, the seeded noise,
the refused combinations, the recorded (ε, δ), resuming, and the message without Opacus."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from ganbench.testing.common import through_a_checkpoint
from ganbench import plugins, runner
from ganbench.contracts.technique import IMAGE_DATA, TinyArchitecture, TinyBCELoss, make_train_data
from ganbench.spec import Budget, RunSpec
from ganbench.testing import invoke_cli, stopped_after_checkpoint
from ganbench.training import Trainer

from ganbench_plugins.techniques.dp_sgd import INSTALL_HINT, DPSGD

TRAIN_SIZE = 32  # make_train_data's default: with batch 8, q = 1/4


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def opacus():
    return pytest.importorskip("opacus")


def make_trainer(seed: int = 0, loss_cls=TinyBCELoss, techniques=(DPSGD,), **overrides) -> Trainer:
    hparams = {**TinyArchitecture.defaults, **loss_cls.defaults, **DPSGD.defaults, **overrides}
    return Trainer(TinyArchitecture(), loss_cls(hparams), [t(hparams) for t in techniques], IMAGE_DATA,
                   make_train_data(IMAGE_DATA, n=TRAIN_SIZE), None, hparams, seed)


def reported(trainer: Trainer) -> dict[str, float]:
    return {name: rec["value"] for name, rec in trainer.technique_values().items()}


def test_reported_epsilon_is_opacus_accountant_stepped_once_per_discriminator_update(opacus):
    from opacus.accountants import RDPAccountant
    trainer = make_trainer(n_critic=2, dp_noise_multiplier=0.8, dp_delta=1e-4)
    for _ in range(3):
        trainer.step()
    independent = RDPAccountant()
    for _ in range(3 * 2):  # n_critic D updates per step, each one DP-SGD step
        independent.step(noise_multiplier=0.8, sample_rate=8 / TRAIN_SIZE)
    values = reported(trainer)
    assert values["dp_epsilon"] == independent.get_epsilon(1e-4)
    assert values["dp_delta"] == 1e-4
    assert 0 < values["dp_epsilon"] < float("inf")


class SGDLoss(TinyBCELoss):
    """The tiny BCE loss trained with plain SGD: its update is exactly -lr times the gradient."""

    name = "contract_bce_sgd"

    def make_optimizer(self, params, lr, betas):
        return torch.optim.SGD(params, lr=lr)


def _discriminator_update_norm(trainer: Trainer) -> float:
    before = [p.detach().clone() for p in trainer.D.parameters()]
    trainer.step()  # n_critic = 1 D update; the G update only moves G
    return float(torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(trainer.D.parameters(), before))))


def test_per_sample_gradients_are_clipped(opacus):
    """Without noise, SGD moves D by lr * (1/B) * sum_i clip(g_i): at most lr * C in L2 norm."""
    lr, clip = 0.1, 1e-3
    clipped = _discriminator_update_norm(make_trainer(loss_cls=SGDLoss, lr_d=lr, dp_noise_multiplier=0.0,
                                                      dp_max_grad_norm=clip))
    free = _discriminator_update_norm(make_trainer(loss_cls=SGDLoss, techniques=(), lr_d=lr))
    assert 0 < clipped <= lr * clip * (1 + 1e-5)
    assert free > 100 * lr * clip  # the bound is not vacuous: unclipped, the same update is far larger


def test_noise_comes_from_the_runs_seeded_stream(opacus):
    def weights(seed, noise=1.0):
        trainer = make_trainer(seed=seed, dp_noise_multiplier=noise)
        before = torch.get_rng_state()
        trainer.step()
        trainer.step()
        assert torch.equal(before, torch.get_rng_state()), "the noise must not come from the global RNG"
        return trainer.weights_hash()

    assert weights(3) == weights(3)
    assert weights(3) != weights(3, noise=0.0)  # noise is really added
    assert weights(3) != weights(4)


def test_batch_norm_becomes_group_norm_and_in_place_activations_out_of_place(opacus):
    D = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.LeakyReLU(0.2, True))
    wrapped = DPSGD(DPSGD.defaults | {"batch_size": 8}).wrap_discriminator(D, IMAGE_DATA)
    kinds = [type(m) for m in wrapped.modules()]
    assert torch.nn.GroupNorm in kinds and torch.nn.BatchNorm2d not in kinds
    assert not any(getattr(m, "inplace", False) for m in wrapped.modules())


REFUSED = {  # (arch, loss) -> words of the reason
    ("dcgan", "wgan_gp"): "double backward", ("dcgan", "r1"): "double backward",
    ("dcgan", "dragan"): "double backward", ("dcgan", "ragan"): "real data",
    ("sngan_resnet", "nonsaturating"): "spectral norm", ("stylegan", "nonsaturating"): "mixes the samples",
    ("infogan", "nonsaturating"): "auxiliary head",
}


def test_refused_combinations_are_skipped_with_their_reason_when_the_matrix_is_expanded(opacus):
    from ganbench import sweep
    host = plugins.load()
    study = sweep.command_line_study(["dcgan", "sngan_resnet", "stylegan", "infogan"],
                                     ["nonsaturating", "wgan_gp", "r1", "dragan", "ragan"], ["dp_sgd"],
                                     ["mnist5k"], (0,), Budget("steps", 4), ())
    plan = sweep.expand(study, host, {"hparams": {}})
    skipped = dict(plan.skipped)
    for (arch, loss), words in REFUSED.items():
        reason = next(r for what, r in skipped.items() if what.startswith(f"{arch}-{loss}+dp_sgd"))
        assert reason.startswith("dp_sgd: ") and words in reason, reason
    planned = {s.variant for s in plan.runs}
    assert "dcgan-nonsaturating+dp_sgd" in planned  # BatchNorm is fixed, not refused


def test_a_tiny_run_records_epsilon_and_delta_and_the_report_shows_them(opacus, tmp_path, capsys):
    code, out, err = invoke_cli(capsys, "run", "--arch", "mlp", "--loss", "nonsaturating", "--technique", "dp_sgd",
                                "--dataset", "ring8", "--budget", "steps=4", "--hparam", "batch_size=32",
                                "--hparam", "dp_noise_multiplier=1.5", "--metric", "mode_coverage", "--threads", "1",
                                "--results-dir", tmp_path, "--quiet", "--json")
    assert code == 0, err
    run_dir = Path(json.loads(out)["runs"][0]["dir"])
    values = json.loads((run_dir / "result.json").read_text())["technique_values"]
    from opacus.accountants import RDPAccountant
    accountant = RDPAccountant()
    for _ in range(4):
        accountant.step(noise_multiplier=1.5, sample_rate=32 / len(plugins.load().datasets.get("ring8")().load("train")[0]))
    assert values["dp_epsilon"]["value"] == accountant.get_epsilon(1e-5)
    assert values["dp_delta"]["value"] == 1e-5 and values["dp_epsilon"]["technique"] == "dp_sgd"

    from ganbench.report import build_report
    table = next(t for t in build_report(str(tmp_path), figures=False).tables if t.kind == "leaderboard")
    labels = [c.label for c in table.columns]
    assert "dp_epsilon" in labels and "dp_delta" in labels
    row = table.rows[table.reference_rows]
    assert row[labels.index("dp_delta")].text == "1e-05"


def test_epsilon_survives_a_kill_and_resume(opacus, tmp_path, monkeypatch):
    """The run stopped right after its first checkpoint (as a kill would stop it), then run again,
    ends with the uninterrupted run's ε and weights."""
    host = plugins.load()
    spec = RunSpec(arch="mlp", loss="nonsaturating", dataset="ring8", seed=0, budget=Budget("steps", 6),
                   techniques=("dp_sgd",), hparams={"batch_size": 32}, metrics=("mode_coverage",),
                   eval_every=3, threads=1)
    straight = runner.execute(spec, tmp_path / "straight", host=host)

    with stopped_after_checkpoint(monkeypatch), pytest.raises(KeyboardInterrupt):
        runner.execute(spec, tmp_path / "killed", host=host)
    resumed = runner.execute(spec, tmp_path / "killed", host=host)
    assert straight["status"] == resumed["status"] == "completed"
    assert resumed["technique_values"] == straight["technique_values"]
    assert resumed["weights_hash"] == straight["weights_hash"]


def test_state_round_trip_keeps_the_accountant(opacus):
    straight = make_trainer()
    for _ in range(4):
        straight.step()
    first = make_trainer()
    first.step()
    state = through_a_checkpoint(first.state_dict())
    resumed = make_trainer()
    resumed.load_state_dict(state)
    for _ in range(3):
        resumed.step()
    assert reported(resumed) == reported(straight)
    assert resumed.techniques[0].accountant.history == [(1.0, 8 / TRAIN_SIZE, 4)]


def test_without_opacus_a_run_exits_2_saying_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "opacus", None)  # import opacus now fails, as if not installed
    code, out, err = invoke_cli(capsys, "run", "--arch", "mlp", "--loss", "nonsaturating", "--technique", "dp_sgd",
                                "--dataset", "ring8", "--budget", "steps=4", "--results-dir", tmp_path / "r")
    assert code == 2
    assert f"dp_sgd: {INSTALL_HINT}" in err and "pip install 'ganbench[dp]'" in err
    assert "Traceback" not in err and not (tmp_path / "r" / "runs").exists()
