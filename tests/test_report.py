"""``ganbench report``: fake stored runs (written here in the runner's exact format) -> tables, files.

Expected numbers are recomputed here with numpy from the values the fixture wrote, never read back
from the report code.
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import math
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from ganbench import hookimpl, plugins
from ganbench.api import DataInfo, Dataset
from ganbench.report import BEST, TIE, build_report, write_report
from ganbench_plugins.metrics.inception_fidelity import InceptionFidelity
from ganbench_plugins.metrics.lenet_fidelity import LenetFidelity
from ganbench_plugins.metrics.mode_coverage import ModeCoverage

FORMATS = ("markdown", "csv", "json", "latex", "html")
EVIL = "<script>alert(1)</script>"
CHROMIUM = "/usr/bin/chromium"
RING = [[math.cos(2 * math.pi * i / 8), math.sin(2 * math.pi * i / 8)] for i in range(8)]


# ---------------------------------------------------------------------------------------------------
# Fixture runs, in the stored-run format

def _metric(value, hib, extractor="", n=2500, split="test"):
    return {"value": value, "higher_is_better": hib, "num_samples": n, "reference_split": split,
            "extractor": extractor, "extra": {}}


def _as_stored(name, rec):
    """``rec`` as evaluate() stores it: with what the built-in metric returning ``name`` declares."""
    for cls in (InceptionFidelity, LenetFidelity, ModeCoverage):
        if cls.declared(name):
            return {**rec, "extra": {**cls.declared(name), "metric": cls.name, **rec["extra"]}}
    return rec


LENET = "lenet-mnist5k-0123abcd"
INCEPTION = "inception-v3-compat"


def write_run(root, *, arch, loss, dataset, seed, budget=("steps", 1000), techniques=(), status="completed",
              final=None, curve=None, samples=None, result=True, hparams=None, commit="abc123"):
    variant = "-".join([arch, loss]) + "".join(f"+{t}" for t in techniques)
    name = f"{variant}-{dataset}-s{seed}"
    final = {metric: _as_stored(metric, rec) for metric, rec in (final or {}).items()}
    h = hashlib.sha256(f"{name}-{budget}-{hparams}".encode()).hexdigest()[:12]
    # a hostile plugin name still lives in a legal directory name; only spec.json keeps it verbatim
    path = os.path.join(root, "runs", re.sub(r"[^A-Za-z0-9_+.-]", "_", f"{name}-{h}"))
    os.makedirs(path)
    spec = {
        "schema": 1, "name": name, "hash": h, "variant": variant,
        "spec": {"arch": arch, "loss": loss, "techniques": list(techniques), "dataset": dataset, "seed": seed,
                 "budget": {"kind": budget[0], "value": budget[1]}, "hparams": hparams or {"lr_g": 2e-4},
                 "metrics": sorted(final or {}), "eval_every": 200, "device": "cpu", "precision": "fp32",
                 "channels_last": False, "compile": False, "threads": 1, "study": "default"},
        "versions": {"ganbench": "0.1.0", "torch": "2.14.1", "torchvision": "0.29.1", "torch_fidelity": "0.4.0",
                     "python": "3.11.2", "plugins": {arch: f"ganbench=={'0.1.0'}"}},
        "env": {"git_commit": commit, "hostname": "box", "cpu": "AMD EPYC", "gpu": None, "platform": "Linux"},
    }
    with open(os.path.join(path, "spec.json"), "w") as f:
        json.dump(spec, f)
    if not result:
        return path
    steps = budget[1] if budget[0] == "steps" else 100
    res = {
        "schema": 1, "status": status, "steps": steps, "images_shown": steps * 64, "kimg": steps * 64 / 1000,
        "flops_per_step": 1_000_000, "total_flops": 1_000_000 * steps, "final": final or {}, "selected": None,
        "throughput": {"train_images_per_second": 1000.0 + 10 * seed, "train_seconds": 10.0, "warmup_steps": 5},
        "peak_memory_bytes": 100 * 2 ** 20 + seed, "memory_kind": "process_rss",
        "params": {"generator": 1_200_000, "discriminator": 800_000}, "weights_hash": "f" * 16,
        "diverged_at": 500 if status == "diverged" else None,
        "error": "RuntimeError: boom" if status == "failed" else None, "wall_seconds": 12.0,
    }
    with open(os.path.join(path, "result.json"), "w") as f:
        json.dump(res, f)
    with open(os.path.join(path, "metrics.jsonl"), "w") as f:
        for metric, points in (curve or {}).items():
            for step, value in points:
                f.write(json.dumps({"step": step, "kimg": step * 0.064, "split": "val", "name": metric,
                                    "value": value, "higher_is_better": False, "num_samples": 500,
                                    "reference_split": "val", "extractor": LENET, "extra": {}, "time": 1.0}) + "\n")
        for metric, rec in (final or {}).items():  # test-split lines must not enter the curves
            f.write(json.dumps({"step": steps, "kimg": 1.0, "split": "test", "name": metric, **rec,
                                "value": -999.0, "time": 2.0}) + "\n")
    with open(os.path.join(path, "stats.jsonl"), "w") as f:
        f.write(json.dumps({"step": 1, "kimg": 0.064, "loss_d": 1.0, "loss_g": 0.7, "images_per_second": 900.0,
                            "time": 0.1}) + "\n")
    if samples is not None:
        np.savez(os.path.join(path, "samples.npz"), samples=samples)
    if status == "failed":
        with open(os.path.join(path, "error.txt"), "w") as f:
            f.write("Traceback...\nRuntimeError: boom\n")
    return path


# lenet FID per variant and seed on mnist5k at 1000 steps: ns and wgan_gp overlap, minimax does not
FID = {"dcgan-nonsaturating": [20.0, 22.0, 24.0], "dcgan-wgan_gp": [23.0, 25.0, 27.0],
       "dcgan-minimax": [60.0, 61.0, 62.5]}
INCEPTION_FID = {"dcgan-nonsaturating": [90.0, 95.0, 91.0], "dcgan-wgan_gp": [80.0, 81.0, 82.0],
                 "dcgan-minimax": [120.0, 130.0, 125.0]}
CURVES = {0: [400.0, 100.0, 30.0, 45.0, 25.0, 28.0], 1: [380.0, 90.0, 35.0, 22.0, 26.0], 2: [390.0, 24.0]}
MODES = {"mlp-nonsaturating": [3.0, 4.0, 2.0], "mlp-nonsaturating+pacgan": [8.0, 7.0, 8.0],
         f"{EVIL}-nonsaturating": [5.0, 5.0, 6.0]}


def _images(seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(16, 1, 8, 8), dtype=np.uint8)


def make_results(root):
    for k, (variant, fids) in enumerate(FID.items()):
        arch, loss = variant.split("-")
        for seed, fid in enumerate(fids):
            points = [(200 * (i + 1), v * (1 + 0.5 * k)) for i, v in enumerate(CURVES[seed])]
            write_run(root, arch=arch, loss=loss, dataset="mnist5k", seed=seed,
                      final={"fid_lenet": _metric(fid, False, LENET), "is_lenet": _metric(9.0 - seed, True, LENET),
                             "fid_inception": _metric(INCEPTION_FID[variant][seed], False, INCEPTION, n=10000)},
                      curve={"fid_lenet": points}, samples=_images(seed))
    # diverged and failed seeds of one variant: counted as failures, kept out of every mean
    write_run(root, arch="dcgan", loss="nonsaturating", dataset="mnist5k", seed=3, status="diverged",
              final={"fid_lenet": _metric(500.0, False, LENET)})
    write_run(root, arch="dcgan", loss="nonsaturating", dataset="mnist5k", seed=4, status="failed")
    write_run(root, arch="dcgan", loss="nonsaturating", dataset="mnist5k", seed=5, result=False)  # still running
    # a longer budget: its own table, never averaged with the 1000-step runs
    write_run(root, arch="dcgan", loss="nonsaturating", dataset="mnist5k", seed=0, budget=("steps", 2000),
              final={"fid_lenet": _metric(5.0, False, LENET)}, commit="def456")
    rng = np.random.default_rng(0)
    for variant, modes in MODES.items():
        arch, rest = variant.rsplit("-", 1)
        loss, *techs = rest.split("+")
        for seed, m in enumerate(modes):
            pts = np.asarray(RING, dtype=np.float32)[rng.integers(0, int(m), 300)]
            pts = pts + rng.normal(0, 0.02, pts.shape).astype(np.float32)
            write_run(root, arch=arch, loss=loss, techniques=techs, dataset="fake_ring8", seed=seed,
                      budget=("steps", 500), samples=pts,
                      final={"modes": _metric(m, True, n=2500, split="test"),
                             "hq_percent": _metric(90.0 + seed, True), "reverse_kl": _metric(1.0 / m, False)},
                      curve={"modes": [(100, m - 1), (200, m)]})
    # damaged directories: the report must name them and go on
    bad = os.path.join(root, "runs", "broken-result")
    os.makedirs(bad)
    shutil.copy(os.path.join(write_run(root, arch="dcgan", loss="hinge", dataset="mnist5k", seed=9, result=False),
                             "spec.json"), os.path.join(bad, "spec.json"))
    with open(os.path.join(bad, "result.json"), "w") as f:
        f.write('{"schema": 1, "status": "compl')
    victim = next(d for d in sorted(os.listdir(os.path.join(root, "runs"))) if d.startswith("dcgan-minimax-mnist5k-s0"))
    with open(os.path.join(root, "runs", victim, "metrics.jsonl"), "a") as f:
        f.write("{not json\n")


class FakeRing(Dataset):
    """Eight Gaussians on the unit circle (test stand-in for the ring8 plugin)."""

    name = "fake_ring8"
    info = DataInfo(shape=(2,), kind="points", num_modes=8)
    modes = RING


class FakeDatasets:
    @hookimpl
    def ganbench_register_datasets(self, registry):
        registry.add(FakeRing)


@pytest.fixture(scope="module")
def host():
    return plugins.load(only=FORMATS, extra=[("fake_datasets", FakeDatasets())])


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("results"))
    make_results(root)
    return root


@pytest.fixture(scope="module")
def report(results, host):
    return build_report(results, host=host)


@pytest.fixture(scope="module")
def written(report, host, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("out"))
    return out, write_report(report, out, FORMATS, host=host)


def table(report, kind, group):
    return next(t for t in report.tables if t.kind == kind and t.group == group)


def column(t, label):
    return [c.label for c in t.columns].index(label)


def row(t, variant):
    return next(r for r in t.rows if r[0].text == variant)


# ---------------------------------------------------------------------------------------------------

def test_collection_counts_incomplete_and_reports_damage(report):
    assert report.incomplete == sorted(report.incomplete)
    assert len(report.incomplete) == 2          # the running seed and the spec-only hinge run
    assert any("broken-result/result.json" in p for p in report.problems)
    assert any("metrics.jsonl: 1 malformed line" in p for p in report.problems)


def test_leaderboard_mean_std_match_numpy(report):
    t = table(report, "leaderboard", "mnist5k-steps1000")
    assert "1000 steps" in t.title and ("budget", ["1000 steps"]) in t.provenance
    for variant, fids in FID.items():
        cells = row(t, variant)
        fid = cells[column(t, "fid_lenet")]
        assert fid.value == pytest.approx(np.mean(fids))
        assert fid.std == pytest.approx(np.std(fids, ddof=1))
        assert fid.n == 3
        inc = cells[column(t, "fid_inception")]
        assert inc.value == pytest.approx(np.mean(INCEPTION_FID[variant]))
        assert inc.std == pytest.approx(np.std(INCEPTION_FID[variant], ddof=1))
    # sorted by the primary metric (Inception FID preferred when present), lower first
    order = [r[0].text for r in t.rows]
    assert order == sorted(FID, key=lambda v: np.mean(INCEPTION_FID[v]))
    assert t.columns[2].label == "fid_inception"


def test_failed_and_diverged_runs_excluded_from_means(report):
    t = table(report, "leaderboard", "mnist5k-steps1000")
    cells = row(t, "dcgan-nonsaturating")
    assert cells[column(t, "seeds")].text == "3"
    status = cells[column(t, "status")].text
    assert "3 completed" in status and "1 diverged" in status and "1 failed" in status and "1 incomplete" in status
    assert cells[column(t, "fid_lenet")].value == pytest.approx(22.0)  # the diverged 500.0 stays out


def test_stability_table(report):
    t = table(report, "stability", "mnist5k-steps1000")
    assert "fid_inception" in t.columns[5].label
    ns = row(t, "dcgan-nonsaturating")
    assert ns[column(t, "runs")].value == 5
    assert ns[column(t, "diverged")].value == 1 and ns[column(t, "failed")].value == 1
    assert ns[column(t, "failure rate")].value == pytest.approx(2 / 5)
    vals = INCEPTION_FID["dcgan-nonsaturating"]
    label = t.columns[5].label.replace(" mean", "")
    assert ns[column(t, f"{label} mean")].value == pytest.approx(np.mean(vals))
    assert ns[column(t, f"{label} std")].value == pytest.approx(np.std(vals, ddof=1))
    q75, q25 = np.percentile(vals, [75, 25])
    assert ns[column(t, f"{label} IQR")].value == pytest.approx(q75 - q25)
    assert row(t, "dcgan-minimax")[column(t, "failure rate")].value == 0


def test_stability_oscillation_on_val_curve(report):
    # ring8: the primary is "modes" (no FID); its val curve is [m-1, m] for every seed
    t = table(report, "stability", "fake_ring8-steps500")
    cells = row(t, "mlp-nonsaturating")
    osc = cells[column(t, "modes val total variation (last 5)")]
    assert osc.value == pytest.approx(1.0) and osc.n == 3
    assert cells[column(t, "modes val best − final")].value == pytest.approx(0.0)
    # collapse to fewer than half of the 8 modes counts as a failure (seeds with 3 and 2 modes)
    assert cells[column(t, "failure rate")].value == pytest.approx(2 / 3)


def test_oscillation_matches_numpy_on_fid_curve(results, host):
    from ganbench.report.stability import curve_stats
    points = [(200 * (i + 1), v) for i, v in enumerate(CURVES[0])]
    s = curve_stats(points, higher_is_better=False)
    last = np.array(CURVES[0][-5:])
    assert s.points == 5
    assert s.std == pytest.approx(last.std())
    assert s.total_variation == pytest.approx(np.abs(np.diff(last)).sum())
    assert s.best_final_gap == pytest.approx(CURVES[0][-1] - min(CURVES[0]))
    short = curve_stats([(1, 3.0), (2, 1.0)], higher_is_better=True)
    assert short.points == 2 and short.best_final_gap == pytest.approx(2.0)


def test_budgets_never_mixed(report):
    t1 = table(report, "leaderboard", "mnist5k-steps1000")
    t2 = table(report, "leaderboard", "mnist5k-steps2000")
    assert "2000 steps" in t2.title and ("budget", ["2000 steps"]) in t2.provenance
    assert [r[0].text for r in t2.rows] == ["dcgan-nonsaturating"]
    assert t2.rows[0][column(t2, "fid_lenet")].value == pytest.approx(5.0)
    assert row(t1, "dcgan-nonsaturating")[column(t1, "fid_lenet")].value == pytest.approx(22.0)
    for t in report.tables:
        assert len(dict(t.provenance)["budget"]) == 1
    assert dict(t2.provenance)["git commit"] == ["def456"]


def test_ties_marked_only_when_intervals_overlap(report):
    t = table(report, "leaderboard", "mnist5k-steps1000")
    j = column(t, "fid_lenet")
    assert row(t, "dcgan-nonsaturating")[j].mark == BEST      # 22 ± 2
    assert row(t, "dcgan-wgan_gp")[j].mark == TIE             # 25 ± 2 overlaps [20, 24]
    assert row(t, "dcgan-minimax")[j].mark == ""              # 61.2 ± 1.3 does not
    k = column(t, "fid_inception")                            # wgan_gp 81 ± 1 vs ns 92 ± 2.6: apart
    assert row(t, "dcgan-wgan_gp")[k].mark == BEST and row(t, "dcgan-nonsaturating")[k].mark == ""
    hib = column(t, "is_lenet")                               # higher is better: read from the records
    assert all(r[hib].value == pytest.approx(8.0) for r in t.rows)
    assert any("within seed spread" in n for n in t.notes)
    m = table(report, "mode_collapse", "fake_ring8-steps500")
    assert row(m, "mlp-nonsaturating+pacgan")[column(m, "modes")].mark == BEST
    assert row(m, "mlp-nonsaturating")[column(m, "modes")].mark == ""


def test_lenet_and_inception_never_share_a_column(report):
    for t in report.tables:
        labels = [c.label for c in t.columns]
        assert len(labels) == len(set(labels))
        for c in labels:
            assert not ("lenet" in c and "inception" in c)
    t = table(report, "leaderboard", "mnist5k-steps1000")
    extractors = dict(t.provenance)["extractor"]
    assert f"fid_lenet: {LENET}" in extractors and f"fid_inception: {INCEPTION}" in extractors
    assert "fid_inception: 10000" in dict(t.provenance)["samples"]


def test_protocol_change_splits_a_column(tmp_path, host):
    for seed, n in enumerate((2500, 2500, 5000)):
        write_run(str(tmp_path), arch="dcgan", loss="hinge", dataset="mnist5k", seed=seed,
                  final={"fid_lenet": _metric(10.0 + seed, False, LENET, n=n)})
    t = table(build_report(str(tmp_path), host=host, figures=False), "leaderboard", "mnist5k-steps1000")
    labels = [c.label for c in t.columns]
    assert "fid_lenet (N=2500)" in labels and "fid_lenet (N=5000)" in labels


def test_mode_collapse_table(report):
    t = table(report, "mode_collapse", "fake_ring8-steps500")
    assert [c.label for c in t.columns] == ["variant", "seeds", "modes", "hq_percent", "reverse_kl"]
    for variant, modes in MODES.items():
        cells = row(t, variant)
        assert cells[2].value == pytest.approx(np.mean(modes))
        assert cells[2].std == pytest.approx(np.std(modes, ddof=1))
        assert cells[4].value == pytest.approx(np.mean([1 / m for m in modes]))
    assert t.rows[0][0].text == "mlp-nonsaturating+pacgan"      # most modes first
    assert not any(x.kind == "mode_collapse" and x.group.startswith("mnist5k") for x in report.tables)


def test_figures(report):
    ids = sorted(f.id for f in report.figures)
    assert "curves-mnist5k-steps1000" in ids and "tradeoff-mnist5k-steps1000" in ids
    assert "images-mnist5k-steps1000" in ids and "samples2d-fake_ring8-steps500" in ids
    ring = next(f for f in report.figures if f.id == "samples2d-fake_ring8-steps500")
    assert "mode centres" in ring.caption and "unknown" not in ring.caption
    for f in report.figures:
        assert f.png.startswith(b"\x89PNG") and b"Software" not in f.png


def test_every_format_writes(written):
    out, paths = written
    rel = sorted(os.path.relpath(p, out) for p in paths)
    for name in ("report.md", "report.json", "report.tex", "report.html", "csv/provenance.csv",
                 "csv/leaderboard-mnist5k-steps1000.csv", "csv/stability-fake_ring8-steps500.csv",
                 "figures/curves-mnist5k-steps1000.png"):
        assert name in rel
    assert all(os.path.getsize(p) > 0 for p in paths)
    with open(os.path.join(out, "report.json")) as f:
        data = json.load(f)
    assert data["schema"] == 1 and data["ganbench_version"]
    assert {t["kind"] for t in data["tables"]} == {"leaderboard", "mode_collapse", "stability"}
    md = open(os.path.join(out, "report.md")).read()
    assert "| variant |" in md and "**22.0 ± 2.0**" in md and "≈ 25.0 ± 2.0" in md
    tex = open(os.path.join(out, "report.tex")).read()
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert r"dcgan-wgan\_gp" in tex and r"\textbf{22.0 $\pm$ 2.0}" in tex
    assert r"\textless{}script\textgreater{}" in tex
    import csv
    with open(os.path.join(out, "csv", "leaderboard-mnist5k-steps1000.csv")) as f:
        rows = list(csv.DictReader(f))
    ns = next(r for r in rows if r["variant"] == "dcgan-nonsaturating")
    assert float(ns["fid_lenet_mean"]) == pytest.approx(22.0) and ns["fid_lenet_mark"] == "best"


def test_html_is_self_contained_and_escaped(written):
    out, _ = written
    page = open(os.path.join(out, "report.html"), encoding="utf-8").read()
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script") == 1                       # ours, nothing injected
    assert "data:image/png;base64," in page
    for needle in ("http://", "https://", "src=\"//", "<link", "@import", "url("):
        assert needle not in page.replace("http-equiv", "")
    assert "Content-Security-Policy" in page


def test_empty_missing_and_garbage_results(tmp_path, host):
    from ganbench.errors import UsageError
    with pytest.raises(UsageError):
        build_report(str(tmp_path / "nowhere"), host=host)
    empty = build_report(str(tmp_path), host=host)
    assert empty.tables == [] and empty.problems
    assert len(write_report(empty, str(tmp_path / "out"), FORMATS, host=host)) == 5
    # values of the wrong type are left out of the statistics, never raised on
    path = write_run(str(tmp_path / "g"), arch="dcgan", loss="hinge", dataset="mnist5k", seed=0,
                     final={"fid_lenet": _metric("abc", False, LENET), "modes": _metric(None, True)})
    write_run(str(tmp_path / "g"), arch="dcgan", loss="hinge", dataset="mnist5k", seed=1,
              final={"fid_lenet": _metric(float("nan"), False, LENET)})
    with open(os.path.join(path, "result.json")) as f:
        res = json.load(f)
    res.update(peak_memory_bytes="lots", flops_per_step=[1])
    with open(os.path.join(path, "result.json"), "w") as f:
        json.dump(res, f)
    rep = build_report(str(tmp_path / "g"), host=host)
    stab = table(rep, "stability", "mnist5k-steps1000")
    assert row(stab, "dcgan-hinge")[column(stab, "failure rate")].value == pytest.approx(0.5)  # the NaN seed
    write_report(rep, str(tmp_path / "gout"), FORMATS, host=host)


def test_unknown_format_is_a_usage_error(report, host, tmp_path):
    from ganbench.errors import UsageError
    with pytest.raises(UsageError, match="markdown"):
        write_report(report, str(tmp_path), ["docx"], host=host)
    assert not os.listdir(tmp_path)


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_regeneration_is_byte_identical(results, host, written, tmp_path):
    first, _ = written
    again = str(tmp_path / "again")
    write_report(build_report(results, host=host), again, FORMATS, host=host)
    assert _tree(first) == _tree(again)
    match, mismatch, errors = filecmp.cmpfiles(first, again, _tree(first), shallow=False)
    assert mismatch == [] and errors == []


# ---------------------------------------------------------------------------------------------------
# Real headless Chromium

def _chromium(args, profile, timeout=90):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _png_pixels(path):
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int32)


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing: apt-get install -y chromium")
def test_html_renders_in_headless_chromium(written, tmp_path):
    out, _ = written
    url = "file://" + os.path.join(out, "report.html")
    dom = _chromium(["--dump-dom", url + "#sort-check"], tmp_path / "profile1")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    n_tables = html.count('<table class="sortable"')
    assert n_tables >= 6
    assert f'data-sort-ready="{n_tables}"' in html          # the script ran to its end
    assert 'data-sort-check="ok"' in html                   # and a header click sorted numerically
    assert "dcgan-nonsaturating" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    assert f'data-figures-shown="{len(written_figures(out))}/{len(written_figures(out))}"' in html  # all PNGs decoded

    # one tall viewport holds the whole page: Chromium's headless screenshot ignores #fragment scrolling
    shot = tmp_path / "shot.png"
    res = _chromium([f"--screenshot={shot}", "--window-size=1200,10000", "--hide-scrollbars", url],
                    tmp_path / "profile2")
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    px = _png_pixels(shot)
    assert (px.sum(axis=2) < 600).mean() > 0.005                          # not a blank page
    # matplotlib's tab10 orange appears only inside figures (the page's CSS has no such colour)
    orange = np.abs(px - np.array([255, 127, 14])).sum(axis=2) < 40
    assert orange.sum() > 200


def written_figures(out):
    return sorted(os.listdir(os.path.join(out, "figures")))


def test_a_spread_of_float_rounding_reads_as_none():
    """Seeds of one vectorised group share one throughput: their std is rounding noise, shown as ± 0,
    not as six decimals of zeros."""
    from ganbench.report.aggregate import Summary, fmt_summary
    assert fmt_summary(Summary(23484.304118, 3.6e-12, 3)) == "23484 ± 0"
    assert fmt_summary(Summary(8.0, 0.0, 3)) == "8 ± 0"
    assert fmt_summary(Summary(0.5, 0.0004, 3)) == "0.50000 ± 0.00040"
    assert fmt_summary(Summary(78.02, 7.011, 3)) == "78.0 ± 7.0"
