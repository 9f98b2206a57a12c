"""The super-resolution task end to end: MNIST-5k at 7x7 -> 28x28 (mnist5k_x4), SRGAN, PSNR/SSIM/L1
checked against scikit-image, the bicubic baseline row, and a killed run resuming to the weights of
an uninterrupted one."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from ganbench import runner
from ganbench.testing import stopped_after_checkpoint
from ganbench.evaluation import SamplingContext, to_metric_space
from ganbench.spec import ReferenceSpec

from ganbench_plugins.datasets.mnist5k_x4 import Mnist5kX4
from ganbench_plugins.metrics.pixel_fidelity import PixelFidelity
from ganbench_plugins.tasks.super_resolution import SuperResolution

skimage_metrics = pytest.importorskip("skimage.metrics", reason="the reference PSNR/SSIM is scikit-image's")

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--hparam", "sr_ch=8", "--hparam", "sr_blocks=1", "--hparam", "sr_d_ch=8", "--hparam", "sr_d_hidden=16",
        "--hparam", "batch_size=16", "--hparam", "content_loss=mse"]
RUN = ["run", "--task", "super_resolution", "--arch", "srgan", "--loss", "nonsaturating", "--dataset", "mnist5k_x4",
       "--metric", "pixel_fidelity", "--budget", "steps=6", "--eval-every", "3", "--threads", "1", "-q", *TINY]


def _skimage_scores(outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """Per-image PSNR and SSIM by scikit-image (Wang et al.'s Gaussian-window SSIM), averaged."""
    psnr, ssim = [], []
    for out, tgt in zip(outputs.numpy().astype(np.float64), targets.numpy().astype(np.float64)):
        psnr.append(skimage_metrics.peak_signal_noise_ratio(tgt, out, data_range=2.0))
        ssim.append(skimage_metrics.structural_similarity(tgt[0], out[0], data_range=2.0, gaussian_weights=True,
                                                          sigma=1.5, use_sample_covariance=False))
    return {"psnr": float(np.mean(psnr)), "ssim": float(np.mean(ssim)),
            "l1": float((outputs - targets).abs().mean())}


def _values(result) -> dict[str, float]:
    return {k: v["value"] for k, v in result.items()}


def test_psnr_ssim_and_l1_equal_scikit_images_on_bicubic_and_noisy_outputs():
    ds = Mnist5kX4()
    targets = ds.load("test")[0][:200]
    bicubic = to_metric_space(SuperResolution().baseline(ds.load_inputs("test")[:200]), ds.info)
    noisy = to_metric_space(targets + 0.3 * torch.randn(targets.shape, generator=torch.Generator().manual_seed(0)),
                            ds.info)
    for outputs in (bicubic, noisy):
        ctx = SamplingContext(lambda n, g: (outputs[:n], None), ds, ds.info, 0,
                              paired_fn=lambda split, o=outputs: (o, targets))
        ours = {v.name: v.value for v in PixelFidelity().compute(ctx, "test")}
        expected = _skimage_scores(outputs, targets)
        assert ours["psnr"] == pytest.approx(expected["psnr"], abs=1e-3)
        assert ours["ssim"] == pytest.approx(expected["ssim"], abs=2e-3)
        assert ours["l1"] == pytest.approx(expected["l1"], rel=1e-5)
    # the scores order what they should: a perfect output beats bicubic, which beats strong noise
    perfect = PixelFidelity().compute(SamplingContext(lambda n, g: (targets[:n], None), ds, ds.info, 0,
                                                      paired_fn=lambda split: (targets, targets)), "test")
    assert {v.name: v.value for v in perfect}["ssim"] == pytest.approx(1.0)


def test_the_inputs_are_bicubic_downsamplings_of_their_own_targets():
    ds = Mnist5kX4()
    targets, inputs = ds.load("val")[0], ds.load_inputs("val")
    assert inputs.shape == (len(targets), 1, 7, 7)
    # the pairs are aligned, not shuffled: of the 1000 targets averaged over 4x4 blocks (another way
    # down to 7x7), each input is closest to its own
    pooled = F.avg_pool2d(targets, 4).flatten(1)
    nearest = torch.cdist(inputs.flatten(1), pooled).argmin(dim=1)
    assert (nearest == torch.arange(len(targets))).float().mean() > 0.97


def test_the_bicubic_baseline_row_scores_what_scikit_image_scores(tmp_path):
    ref = ReferenceSpec("mnist5k_x4", ("pixel_fidelity",), baseline="super_resolution")
    result = runner.execute_reference(ref, tmp_path)
    assert result["status"] == "completed"
    ds = Mnist5kX4()
    outputs = to_metric_space(F.interpolate(ds.load_inputs("test"), size=(28, 28), mode="bicubic",
                                            align_corners=False).clamp(-1, 1), ds.info)
    expected = _skimage_scores(outputs, ds.load("test")[0])
    got = _values(result["final"])
    assert got["psnr"] == pytest.approx(expected["psnr"], abs=1e-3)
    assert got["ssim"] == pytest.approx(expected["ssim"], abs=2e-3)
    record = json.loads((tmp_path / "references" / ref.dirname / "spec.json").read_text())
    assert record["kind"] == "baseline" and record["label"] == SuperResolution.baseline_label
    # the real-data reference of the same metrics has nothing to compare a target with but itself
    real = runner.execute_reference(ReferenceSpec("mnist5k_x4", ("pixel_fidelity",)), tmp_path)
    assert real["final"] == {}


def test_a_super_resolution_run_trains_reports_its_baseline_and_resumes(tmp_path, monkeypatch):
    from ganbench import cli as cli_mod
    out = CliRunner().invoke(cli_mod.cli, [*RUN, "--results-dir", str(tmp_path / "whole")])
    assert out.exit_code == 0, out.output
    (run_dir,) = (tmp_path / "whole" / "runs").iterdir()
    whole = json.loads((run_dir / "result.json").read_text())
    spec = json.loads((run_dir / "spec.json").read_text())
    assert whole["status"] == "completed" and whole["steps"] == 6
    assert spec["spec"]["task"] == "super_resolution" and spec["spec"]["hparams"]["adversarial_weight"] == 1e-3
    assert set(_values(whole["final"])) == {"psnr", "ssim", "l1"}
    # samples.npz holds every test output with its input and target: the scores recompute from it
    with np.load(run_dir / "samples.npz") as saved:
        outputs, inputs, targets = saved["samples"], saved["inputs"], saved["targets"]
    assert outputs.shape == targets.shape == (1000, 1, 28, 28) and inputs.shape == (1000, 1, 7, 7)
    assert outputs.dtype == np.uint8
    as_float = lambda a: torch.from_numpy(a).float() / 127.5 - 1  # noqa: E731
    recomputed = _skimage_scores(as_float(outputs), as_float(targets))
    assert recomputed["psnr"] == pytest.approx(_values(whole["final"])["psnr"], abs=1e-3)
    assert recomputed["ssim"] == pytest.approx(_values(whole["final"])["ssim"], abs=2e-3)
    # the report leads the table with the bicubic baseline (pixel scores compare pairs: no real-data row)
    report = CliRunner().invoke(cli_mod.cli, ["report", "--results-dir", str(tmp_path / "whole"),
                                              "--out", str(tmp_path / "report"), "--format", "json"])
    assert report.exit_code == 0, report.output
    assert any(p.name.startswith("pairs-") for p in (tmp_path / "report" / "figures").iterdir())
    tables = json.loads((tmp_path / "report" / "report.json").read_text())["tables"]
    board = next(t for t in tables if t["kind"] == "leaderboard")
    labels = [row["variant"]["text"] for row in board["rows"]]
    assert labels[:2] == [SuperResolution.baseline_label, "srgan-nonsaturating"]
    assert board["title"].startswith(f"Leaderboard: {SuperResolution.table}: mnist5k_x4")

    with stopped_after_checkpoint(monkeypatch, lambda run: run.trainer.steps_done == 3) as stopped_at:
        out = CliRunner().invoke(cli_mod.cli, [*RUN, "--results-dir", str(tmp_path / "stopped")])
    assert out.exit_code != 0 and stopped_at == [3]
    out = CliRunner().invoke(cli_mod.cli, [*RUN, "--results-dir", str(tmp_path / "stopped")])
    assert out.exit_code == 0, out.output
    (resumed_dir,) = (tmp_path / "stopped" / "runs").iterdir()
    resumed = json.loads((resumed_dir / "result.json").read_text())
    assert resumed["weights_hash"] == whole["weights_hash"]
    assert _values(resumed["final"]) == _values(whole["final"])


def test_what_super_resolution_cannot_run_is_skipped_with_its_reason(tmp_path):
    from ganbench import cli as cli_mod
    out = CliRunner().invoke(cli_mod.cli, ["run", "--task", "super_resolution", "--arch", "srgan", "--arch", "dcgan",
                                           "--loss", "nonsaturating", "--loss", "wgan", "--dataset", "mnist5k_x4",
                                           "--dataset", "mnist5k", "--budget", "steps=2", "-n",
                                           "--results-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    text = out.output
    assert "(dcgan-nonsaturating-mnist5k_x4, ...): task super_resolution: architecture dcgan serves generation" in text
    assert "(srgan-wgan-mnist5k_x4, ...): task super_resolution: loss wgan serves generation" in text
    assert "(srgan-nonsaturating-mnist5k): task super_resolution needs pairs; dataset mnist5k holds samples" in text
    planned = [line.split("\t")[0] for line in text.splitlines() if "\t" in line and not line.startswith("skipped")]
    assert any(p.startswith("srgan-nonsaturating-mnist5k_x4-s0-") for p in planned)
    assert any(p.startswith("baseline-super_resolution-mnist5k_x4-") for p in planned)


def test_seeds_of_a_paired_task_train_solo_and_ddp_is_refused_with_the_reason(tmp_path, capfd):
    from ganbench import cli as cli_mod
    args = [a for a in RUN if a not in ("--eval-every", "3")] + ["--budget", "steps=2", "--seeds", "0-1"]
    out = CliRunner().invoke(cli_mod.cli, [*args, "--results-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert ("falling back to solo runs for srgan-nonsaturating: task super_resolution: generators given an "
            "input (paired data) are not vectorised") in capfd.readouterr().err + out.output
    assert len([p for p in (tmp_path / "runs").iterdir() if (p / "result.json").exists()]) == 2
    # with --ddp nothing is left to run: the one combination is skipped with the reason
    out = CliRunner().invoke(cli_mod.cli, [*args, "--ddp", "2", "-n", "--results-dir", str(tmp_path / "ddp")])
    assert "--ddp: task super_resolution gives its generator an input" in out.output
    assert out.exit_code != 0 and not (tmp_path / "ddp" / "runs").exists()
