"""The runner's protocol: seeds, budgets, failure isolation, crash safety, resumable sweeps."""

import hashlib
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli
from ganbench import plugins, runner, store
from ganbench.spec import Budget, RunSpec

TINY = {"batch_size": 32}


@pytest.fixture(scope="module")
def host():
    return plugins.load()


def _spec(**kw):
    base = dict(arch="mlp", loss="nonsaturating", dataset="ring8", seed=0, budget=Budget("steps", 30),
                hparams=TINY, metrics=("mode_coverage",), eval_every=10, threads=1)
    base.update(kw)
    return RunSpec(**base)


def _values(metrics: dict) -> str:
    """The numbers and their protocol, without timing; as JSON so that NaN compares equal to NaN."""
    return json.dumps({name: [m["value"], m["num_samples"], m["reference_split"], m["extractor"]]
                       for name, m in sorted(metrics.items())})


def _run_dir(results: Path, spec: RunSpec) -> Path:
    return results / "runs" / spec.dirname


def test_same_seed_same_weights_and_metrics_across_processes(tmp_path):
    args = ["run", "--arch", "mlp", "--loss", "nonsaturating", "--dataset", "ring8", "--budget", "steps=30",
            "--hparam", "batch_size=32", "--metric", "mode_coverage", "--threads", "1", "--quiet", "--json"]
    results = []
    for i, seed in enumerate(["0", "0", "1"]):
        proc = run_cli(*args, "--seeds", seed, "--results-dir", str(tmp_path / f"r{i}"))
        assert proc.returncode == 0, proc.stderr
        run_dir = Path(json.loads(proc.stdout)["runs"][0]["dir"])
        results.append(json.loads((run_dir / "result.json").read_text()))
    a, b, c = results
    assert a["weights_hash"] == b["weights_hash"]
    assert a["final"] and _values(a["final"]) == _values(b["final"])
    assert a["weights_hash"] != c["weights_hash"]


def test_kimg_budget_stops_at_the_first_step_past_the_target(tmp_path, host):
    spec = _spec(budget=Budget("kimg", 1.0), metrics=())
    result = runner.execute(spec, tmp_path, host=host)
    per_step = TINY["batch_size"]  # mlp with the non-saturating loss: one D update per step
    assert result["images_shown"] == math.ceil(1000 / per_step) * per_step
    assert result["images_shown"] - per_step < 1000 <= result["images_shown"]


def test_parallel_jobs_give_the_same_runs_as_one_process(tmp_path):
    args = ["run", "--arch", "mlp", "--loss", "nonsaturating", "--loss", "hinge", "--dataset", "ring8",
            "--seeds", "0,1", "--budget", "steps=20", "--hparam", "batch_size=32", "--metric", "mode_coverage",
            "--threads", "1", "--quiet", "--json"]
    hashes = []
    for jobs, folder in (("1", "serial"), ("2", "parallel")):
        proc = run_cli(*args, "--jobs", jobs, "--results-dir", str(tmp_path / folder))
        assert proc.returncode == 0, proc.stderr
        runs = json.loads(proc.stdout)["runs"]
        assert len(runs) == 4 and all(r["status"] == "completed" for r in runs)
        hashes.append({Path(r["dir"]).name: json.loads((Path(r["dir"]) / "result.json").read_text())["weights_hash"]
                       for r in runs})
    assert hashes[0] == hashes[1]


def test_kimg_budget_counts_every_batch_a_technique_draws(tmp_path, host):
    # Unrolling draws `unrolling_steps` extra real batches per step; a formula of batch x n_critic
    # would train 4x past the budget. The trainer's own count must stop it within one step.
    spec = _spec(budget=Budget("kimg", 1.0), metrics=(), techniques=("unrolled",),
                 hparams={**TINY, "unrolling_steps": 3})
    result = runner.execute(spec, tmp_path, host=host)
    per_step = TINY["batch_size"] * (1 + 3)
    assert result["images_shown"] - per_step < 1000 <= result["images_shown"]
    assert result["steps"] == math.ceil(1000 / per_step)
    stats = store.read_jsonl(tmp_path / "runs" / spec.dirname / store.STATS)
    assert stats[-1]["kimg"] * 1000 <= result["images_shown"]


def test_step_cost_is_measured_once_and_read_back_from_disk(tmp_path, host, monkeypatch):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    calls = []
    real = runner.measure_step
    monkeypatch.setattr(runner, "measure_step", lambda *a, **k: calls.append(1) or real(*a, **k))
    runner._STEP_COST_CACHE.clear()
    first = runner.execute(_spec(metrics=(), seed=0), tmp_path / "a", host=host)
    runner._STEP_COST_CACHE.clear()  # a new process: only the disk cache is left
    second = runner.execute(_spec(metrics=(), seed=1), tmp_path / "b", host=host)
    assert len(calls) == 1
    assert first["flops_per_step"] == second["flops_per_step"] > 0
    assert list((tmp_path / "cache" / "step_costs").glob("*.json"))


def test_flop_budget_gives_equal_compute_to_architectures_of_different_cost(tmp_path, host):
    budget = Budget("flops", 4e8)
    small = runner.execute(_spec(budget=budget, metrics=(), hparams={"batch_size": 16}), tmp_path, host=host)
    large = runner.execute(_spec(budget=budget, metrics=(), hparams={"batch_size": 64}), tmp_path, host=host)
    assert large["flops_per_step"] > 3 * small["flops_per_step"]
    for r in (small, large):
        assert r["total_flops"] <= budget.value < r["total_flops"] + r["flops_per_step"]
    assert abs(small["total_flops"] - large["total_flops"]) <= max(small["flops_per_step"], large["flops_per_step"])
    assert small["steps"] > large["steps"]


def _tree_digest(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def test_finished_sweep_is_skipped_and_unchanged(tmp_path, host):
    spec = _spec()
    runner.execute(spec, tmp_path, host=host)
    before = _tree_digest(tmp_path)
    again = runner.execute(spec, tmp_path, host=host)
    assert again == json.loads((_run_dir(tmp_path, spec) / "result.json").read_text())
    assert _tree_digest(tmp_path) == before


def test_sigkill_mid_training_resumes_bit_identical(tmp_path):
    args = ["run", "--arch", "mlp", "--loss", "nonsaturating", "--dataset", "ring8", "--budget", "steps=240",
            "--hparam", "batch_size=32", "--metric", "mode_coverage", "--eval-every", "40", "--threads", "1",
            "--quiet", "--json"]
    reference = run_cli(*args, "--results-dir", str(tmp_path / "ref"))
    assert reference.returncode == 0, reference.stderr
    ref_dir = Path(json.loads(reference.stdout)["runs"][0]["dir"])

    killed = tmp_path / "killed"
    exe = Path(sys.executable).with_name("ganbench")
    proc = subprocess.Popen([str(exe), *args, "--results-dir", str(killed)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    run_dir = killed / "runs" / ref_dir.name
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (run_dir / "checkpoint.pt").exists() and store.torch_load(run_dir / "checkpoint.pt")["trainer"]["steps_done"] >= 80:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "result.json").exists()

    resumed = run_cli(*args, "--results-dir", str(killed))
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((ref_dir / "result.json").read_text())
    b = json.loads((run_dir / "result.json").read_text())
    assert a["weights_hash"] == b["weights_hash"]
    assert _values(a["final"]) == _values(b["final"])
    assert a["selected"]["step"] == b["selected"]["step"]
    assert _values(a["selected"]["metrics"]) == _values(b["selected"]["metrics"])
    strip = lambda rows: [[r["step"], r["name"], r["split"], r["value"]] for r in rows]  # noqa: E731
    assert strip(store.read_jsonl(ref_dir / "metrics.jsonl")) == strip(store.read_jsonl(run_dir / "metrics.jsonl"))


def test_failing_and_diverging_plugins_do_not_cost_other_runs(tmp_path, toy_plugin_path):
    proc = run_cli("run", "--arch", "mlp", "--loss", "nonsaturating", "--loss", "toy_raises", "--loss", "toy_nan",
                   "--dataset", "ring8", "--budget", "steps=40", "--hparam", "batch_size=32",
                   "--metric", "mode_coverage", "--results-dir", str(tmp_path), "--quiet", "--json",
                   env_extra={"PYTHONPATH": str(toy_plugin_path)})
    assert proc.returncode == 1, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["counts"] == {"completed": 1, "failed": 1, "diverged": 1}
    by_loss = {r["name"].split("-")[1]: r for r in summary["runs"]}
    failed = Path(by_loss["toy_raises"]["dir"])
    assert "deliberate failure" in json.loads((failed / "result.json").read_text())["error"]
    assert "Traceback" in (failed / "error.txt").read_text()
    diverged = json.loads((Path(by_loss["toy_nan"]["dir"]) / "result.json").read_text())
    assert diverged["status"] == "diverged" and diverged["diverged_at"] > 0
    ok = json.loads((Path(by_loss["nonsaturating"]["dir"]) / "result.json").read_text())
    assert ok["status"] == "completed" and ok["final"]["modes"]["num_samples"] == 2500
    assert "summary: 1 completed, 1 diverged, 1 failed" in proc.stderr


def test_spec_is_stored_first_with_versions_and_hardware(tmp_path, host):
    spec = _spec(metrics=())
    runner.execute(spec, tmp_path, host=host)
    record = json.loads((_run_dir(tmp_path, spec) / "spec.json").read_text())
    assert record["hash"] == spec.content_hash()
    assert record["spec"]["hparams"]["batch_size"] == 32 and "lr_g" in record["spec"]["hparams"]
    for key in ("ganbench", "torch", "torchvision", "torch_fidelity"):
        assert record["versions"][key]
    assert record["versions"]["plugins"]["mlp"].startswith("ganbench==")
    assert record["env"]["cpu"] and record["spec"]["threads"] == 1


PEAK_PROBE = """
import json, numpy as np
from ganbench import runner
runner._reset_peak_memory("cpu")
before, kind = runner._peak_memory("cpu")
block = np.ones(200_000_000 // 8)  # 200 MB touched
grown, _ = runner._peak_memory("cpu")
del block
runner._reset_peak_memory("cpu")
after, _ = runner._peak_memory("cpu")
print(json.dumps([kind, before, grown, after]))
"""


def test_peak_memory_is_per_run_not_per_process():
    # In a fresh interpreter: a test worker that already holds gigabytes (datasets, evaluators) may
    # serve the 200 MB from memory it keeps, and then no peak moves.
    out = subprocess.run([sys.executable, "-c", PEAK_PROBE], capture_output=True, text=True, timeout=120, check=True)
    kind, before, grown, after = json.loads(out.stdout.strip().splitlines()[-1])
    if kind != "process_rss":
        pytest.skip("no per-run peak RSS on this platform")
    assert grown - before > 150e6
    assert after < grown - 150e6  # a later run does not inherit the earlier peak
