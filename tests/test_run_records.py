"""What a run stores is enough to check what it reports, and nothing reaches for the network."""

import json
import socket
import urllib.request

import numpy as np
import pytest
import scipy.linalg
import torch

from conftest import run_cli
from ganbench import plugins, runner
from ganbench.spec import Budget, RunSpec


@pytest.fixture(scope="module")
def host():
    return plugins.load()


def _saved(results, spec):
    run_dir = results / "runs" / spec.dirname
    result = json.loads((run_dir / "result.json").read_text())
    with np.load(run_dir / "samples.npz", allow_pickle=False) as npz:
        return result, {k: npz[k] for k in npz.files}


def test_mode_metrics_recomputed_from_saved_samples(tmp_path, host):
    spec = RunSpec("mlp", "nonsaturating", "ring8", 0, Budget("steps", 150), metrics=("mode_coverage",),
                   hparams={"batch_size": 64}, threads=1)
    runner.execute(spec, tmp_path, host=host)
    result, saved = _saved(tmp_path, spec)
    points = saved["samples"].astype(np.float64)
    assert points.shape == (result["final"]["modes"]["num_samples"], 2)

    # VEEGAN/PacGAN protocol, written out independently: nearest mode, within 3 std = high quality.
    angles = 2 * np.pi * np.arange(8) / 8
    centres = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    dist = np.linalg.norm(points[:, None, :] - centres[None], axis=2)
    nearest, hq = dist.argmin(1), dist.min(1) < 3 * 0.01
    counts = np.bincount(nearest[hq], minlength=8)
    assert result["final"]["modes"]["value"] == (counts > 0).sum()
    assert result["final"]["hq_percent"]["value"] == pytest.approx(100 * hq.mean(), abs=1e-9)
    if hq.any():
        p = counts / counts.sum()
        reverse_kl = float(np.sum(p[p > 0] * np.log(p[p > 0] * 8)))
        assert result["final"]["reverse_kl"]["value"] == pytest.approx(reverse_kl, rel=1e-6)


def test_fid_recomputed_from_saved_images(tmp_path, host):
    from ganbench.evaluators import FEATURE_LAYER
    from ganbench.fidelity import extract_features

    spec = RunSpec("dcgan", "hinge", "mnist5k", 0, Budget("steps", 3), metrics=("class_coverage", "lenet_fidelity"),
                   hparams={"batch_size": 16, "ngf": 8, "ndf": 8}, threads=1)
    runner.execute(spec, tmp_path, host=host)
    result, saved = _saved(tmp_path, spec)
    fid = result["final"]["fid_lenet"]
    assert result["selected"]["by"] == "fid_lenet"  # the primary metric, not the first one evaluated
    fake = torch.from_numpy(saved["samples"])
    assert fake.dtype == torch.uint8 and len(fake) == fid["num_samples"] == 1000
    real, _ = host.datasets.get("mnist5k")().load(fid["reference_split"])

    def stats(x):
        f = extract_features(fid["extractor"], x, FEATURE_LAYER).double().numpy()
        return f.mean(0), np.cov(f, rowvar=False)
    (m1, s1), (m2, s2) = stats(fake), stats(real)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    expected = float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))
    assert fid["value"] == pytest.approx(expected, rel=1e-4)


def test_runs_never_reach_for_the_network(tmp_path, host, monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled by the test")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    every_metric = tuple(host.metrics.names())
    for spec in (RunSpec("mlp", "hinge", "ring8", 0, Budget("steps", 5), metrics=every_metric, threads=1),
                 RunSpec("dcgan", "hinge", "mnist5k", 0, Budget("steps", 2), metrics=every_metric, threads=1,
                         hparams={"batch_size": 8, "ngf": 4, "ndf": 4})):
        usable = tuple(m for m in every_metric if host.metrics.get(m).supports(host.datasets.get(spec.dataset).info,
                                                                                spec.dataset) is None)
        result = runner.execute(RunSpec(**{**spec.__dict__, "metrics": usable}), tmp_path, host=host)
        assert result["status"] == "completed", result.get("error")
        assert not result["metric_errors"], result["metric_errors"]
    assert attempts == []


def test_dataset_missing_on_disk_fails_at_once_with_one_line(tmp_path):
    proc = run_cli("run", "--arch", "dcgan", "--loss", "hinge", "--dataset", "cifar10",
                   "--data-root", str(tmp_path / "nothing-here"), "--results-dir", str(tmp_path / "r"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cifar10" in lines[0] and "--download" in lines[0], proc.stderr
    assert not (tmp_path / "r" / "runs").exists()


def test_builtin_metric_ranks_keep_the_primary_order(host):
    from ganbench.api import primary_metric

    def pick(*names):  # the ranks evaluate() would record for these values
        return primary_metric({n: next((m.declared(n)["rank"] for m in host.metrics if "rank" in m.declared(n)), None)
                               for n in names})
    assert pick("classes_covered", "fid_lenet", "kid_lenet") == "fid_lenet"
    assert pick("fid_lenet", "fid_inception") == "fid_inception"
    assert pick("hq_percent", "modes", "reverse_kl") == "modes"
    # A mode count outranks any other FID: on the ring, fid_infinity_raw must not select checkpoints.
    assert pick("fid_infinity_raw", "fid_infinity_lenet", "modes") == "modes"
    assert pick("fid_infinity_raw", "fid_infinity_lenet", "classes_covered") == "fid_infinity_lenet"
    assert pick("fd_dinov2", "classes_covered") == "fd_dinov2"
    assert pick("my_metric", "kid_lenet") is None and primary_metric({}) is None
