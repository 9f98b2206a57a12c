"""Paired translation (pix2pix) on MNIST-5k edge maps: the Sobel inputs against scipy's Sobel, the L1
objective, a discriminator that judges (output, input) pairs, and a run from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from scipy import ndimage

from ganbench import plugins
from ganbench.training import Trainer

from ganbench_plugins.datasets.mnist5k_edges import Mnist5kEdges, sobel_edges
from ganbench_plugins.tasks.paired_translation import PairedTranslation

pytestmark = pytest.mark.usefixtures("one_thread")


def test_edge_maps_are_scipys_sobel_magnitude():
    x = Mnist5kEdges().load("val")[0][:50]
    ours = sobel_edges(x)
    expected = []
    for image in x[:, 0].numpy().astype(np.float64) + 1:   # one 2D image at a time (an n-D sobel smooths across images)
        gy, gx = ndimage.sobel(image, axis=0, mode="constant"), ndimage.sobel(image, axis=1, mode="constant")
        expected.append(np.clip(np.hypot(gx, gy) / (8 * np.sqrt(2)), 0, 1) * 2 - 1)
    expected = np.stack(expected)
    assert np.abs(ours[:, 0].numpy() - expected).max() <= 1 / 127.5 + 1e-6   # within one 8-bit level
    assert float(ours.mean()) < -0.5 and float(ours.max()) > 0.5   # mostly flat, strong strokes


def test_the_objective_is_adversarial_plus_lambda_l1():
    gen = torch.Generator().manual_seed(0)
    fake, target = torch.rand(4, 1, 28, 28, generator=gen), torch.rand(4, 1, 28, 28, generator=gen)
    adversarial = torch.tensor(0.7)
    task = PairedTranslation({"l1_weight": 100.0})
    assert float(task.generator_objective(adversarial, fake, target)) == pytest.approx(
        0.7 + 100 * float(F.l1_loss(fake, target)), rel=1e-6)


def test_the_discriminator_judges_each_sample_with_the_generators_input():
    host = plugins.load()
    hparams = {**host.tasks.get("paired_translation").defaults, **host.architectures.get("pix2pix").defaults,
               "p2p_ngf": 4, "p2p_ndf": 4, "batch_size": 8}
    ds = Mnist5kEdges()
    x, y = ds.load("val")
    inputs = ds.load_inputs("val")
    trainer = Trainer(host.architectures.get("pix2pix")(), host.losses.get("nonsaturating")(hparams), [], ds.info,
                      x[:32], y[:32], hparams, seed=0, task=PairedTranslation(hparams), train_inputs=inputs[:32])
    seen = []
    forward = trainer.D.forward
    trainer.D.forward = lambda sample, condition: seen.append((sample, condition)) or forward(sample, condition)
    trainer.step()
    assert len(seen) == 3   # real and fake pairs in D's update, the fake pair in G's
    for sample, condition in seen:
        assert condition.shape == sample.shape
        rows = [int(torch.nonzero((inputs[:32] == c).flatten(1).all(1))[0]) for c in condition]
        assert len(set(rows)) == len(rows)   # each condition is one of the training inputs
    (real, real_cond), (fake, fake_cond), _ = seen
    assert torch.equal(real_cond, fake_cond)   # a real pair and its fake share their input
    for sample, condition in zip(real, real_cond):  # and the real pair is (target, its own edges)
        assert torch.equal(sobel_edges(sample.unsqueeze(0))[0], condition)


def test_a_translation_run_trains_and_scores_its_pairs(tmp_path):
    from ganbench import cli as cli_mod
    out = CliRunner().invoke(cli_mod.cli, [
        "run", "--task", "paired_translation", "--arch", "pix2pix", "--loss", "lsgan", "--dataset", "mnist5k_edges",
        "--metric", "pixel_fidelity", "--budget", "steps=4", "--threads", "1", "-q", "--results-dir", str(tmp_path),
        "--hparam", "p2p_ngf=4", "--hparam", "p2p_ndf=4", "--hparam", "batch_size=16", "--json"])
    assert out.exit_code == 0, out.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    result = json.loads((run_dir / "result.json").read_text())
    spec = json.loads((run_dir / "spec.json").read_text())["spec"]
    assert result["status"] == "completed" and spec["task"] == "paired_translation"
    assert spec["hparams"]["l1_weight"] == 100.0
    values = {k: v["value"] for k, v in result["final"].items()}
    assert set(values) == {"psnr", "ssim", "l1"} and 0 < values["l1"] <= 2
    # no baseline for translation, and pixel scores compare pairs, which real data has not: no reference rows
    assert not (tmp_path / "references").exists()


def test_inpainting_inputs_are_their_targets_with_the_centre_erased():
    from ganbench_plugins.datasets.mnist5k_inpaint import Mnist5kInpaint
    ds = Mnist5kInpaint()
    x, inputs = ds.load("test")[0], ds.load_inputs("test")
    centre = (slice(None), slice(None), slice(8, 20), slice(8, 20))
    assert torch.equal(inputs[centre], torch.full_like(inputs[centre], -1.0))
    ring = torch.ones(28, 28, dtype=torch.bool)
    ring[8:20, 8:20] = False
    assert torch.equal(inputs[:, :, ring], x[:, :, ring])
    assert float((x[centre] > 0).float().mean()) > 0.1   # the erased square held strokes
