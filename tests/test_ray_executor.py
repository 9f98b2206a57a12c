"""Sweeps on a real Ray cluster (``--executor ray``): started here with ``ray start --head`` on
127.0.0.1, a worker killed in the middle of a run, the sweep interrupted, and every run equal to the
local executor's (same ``weights_hash``, same metrics) with the same summary and exit code.

The cluster is started once for this module and every test in it runs on one xdist worker (the
``ray`` group), since a machine holds one head node per port and Ray's session files."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the Ray executor's tests need `pip install 'ganbench[ray]'`")

from ganbench.cli import cli  # noqa: E402
from ganbench.errors import ExitCode  # noqa: E402

pytestmark = pytest.mark.xdist_group("ray")

BIN = Path(sys.executable).parent
STEPS = 600           # long enough to kill a worker between two checkpoints
CHECKPOINT_EVERY = 100
# A head node started by `ray start` asks for a token, which drivers only send in token mode. The
# cluster's token is made here: a fresh machine has none in ~/.ray/auth_token, and `ray start` never
# creates one.
RAY_ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """``HOST:PORT`` of a two-CPU Ray head node on this machine, stopped after the module."""
    # Ray's sockets live under its temp dir, and a Unix socket path must stay under 108 bytes.
    temp = tempfile.mkdtemp(prefix="gbray", dir="/tmp")
    port = _free_port()
    env = RAY_ENV
    subprocess.run([str(BIN / "ray"), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                    "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats", "--temp-dir", temp],
                   check=True, capture_output=True, env=env, timeout=300)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(BIN / "ray"), "stop", "--force"], capture_output=True, env=env, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def _study(tmp_path: Path) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(f"""
[study]
name = "ray-check"
[matrix]
archs = ["mlp"]
losses = ["nonsaturating", "lsgan"]
datasets = ["ring8"]
seeds = [0, 1]
metrics = ["mode_coverage"]
[budget]
default = "steps={STEPS}"
[run]
checkpoint_every = {CHECKPOINT_EVERY}
evaluations = 1
threads = 1
""")
    return path


def _ctrl_c_reaches_it() -> None:
    # pytest-xdist workers ignore SIGINT, and an ignored signal stays ignored across exec
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _ganbench(*args: str) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "ganbench"), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=RAY_ENV, preexec_fn=_ctrl_c_reaches_it)


def _results(results_dir: Path) -> dict[str, dict]:
    out = {}
    for run in sorted((results_dir / "runs").iterdir()):
        r = json.loads((run / "result.json").read_text())
        out[run.name] = {"status": r["status"], "weights_hash": r["weights_hash"], "steps": r["steps"],
                         "metrics": {k: v["value"] for k, v in r["final"].items()}}
    return out


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> tuple[dict, dict]:
    """The study's runs and summary counts from the local executor, in this process."""
    from click.testing import CliRunner
    tmp = tmp_path_factory.mktemp("local")
    out = tmp / "results"
    res = CliRunner().invoke(cli, ["run", "--study", str(_study(tmp)), "--results-dir", str(out), "-q", "--json"])
    assert res.exit_code == ExitCode.OK, res.output
    return _results(out), json.loads(res.stdout)["counts"]


def _wait_for(condition, what: str, proc: subprocess.Popen, timeout: float = 240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended (exit {proc.returncode}) before {what}: {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def _a_run_in_training(results_dir: Path):
    """``(run directory, pid of its trainer)`` of a run past its first checkpoint and not finished."""
    runs = results_dir / "runs"
    for run in sorted(runs.iterdir()) if runs.is_dir() else []:
        if (run / "checkpoint.pt").exists() and not (run / "result.json").exists():
            holder = (run / "lock").read_text().split() if (run / "lock").exists() else []
            if holder:
                return run, int(holder[0])
    return None


def test_a_sweep_survives_a_killed_worker_and_equals_the_local_one(tmp_path, cluster, local):
    study = _study(tmp_path)
    local, local_counts = local
    out = tmp_path / "ray"
    proc = _ganbench("run", "--study", str(study), "--results-dir", str(out), "--executor", "ray",
                     "--ray-address", cluster, "--json")
    run, pid = _wait_for(lambda: _a_run_in_training(out), "a run passed its first checkpoint", proc)
    os.kill(pid, signal.SIGKILL)          # the Ray worker process training it
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == ExitCode.OK, stderr[-3000:]
    assert stdout.lstrip().startswith("{"), f"stdout carries the summary alone: {stdout[:500]!r}"
    assert json.loads(stdout)["counts"] == local_counts == {"completed": 4}
    # every run, the killed one included, trained the same steps to the same weights as locally
    assert _results(out) == local
    # another worker finished the killed run, and its log holds each step once, as a resumed run's does
    assert int((run / "lock").read_text().split()[0]) != pid
    steps = [json.loads(line)["step"] for line in (run / "stats.jsonl").read_text().splitlines() if line.strip()]
    assert steps == sorted(set(steps)) and steps[-1] == STEPS


def test_an_interrupted_sweep_leaves_runs_resumable_and_finishes_the_same(tmp_path, cluster, local):
    study = _study(tmp_path)
    out = tmp_path / "ray"
    proc = _ganbench("run", "--study", str(study), "--results-dir", str(out), "--executor", "ray",
                     "--ray-address", cluster, "-q")
    _wait_for(lambda: _a_run_in_training(out), "a run passed its first checkpoint", proc)
    proc.send_signal(signal.SIGINT)       # Ctrl-C
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == ExitCode.RUNS_FAILED
    assert "interrupted" in stderr and "Traceback" not in stderr
    unfinished = [r for r in (out / "runs").iterdir() if not (r / "result.json").exists()]
    assert unfinished, "the interrupt came before the sweep ended"
    # cancelled tasks hold no run: the next sweep trains them at once, from their checkpoints
    again = _ganbench("run", "--study", str(study), "--results-dir", str(out), "--executor", "ray",
                      "--ray-address", cluster, "-q", "--json")
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == ExitCode.OK, stderr[-3000:]
    assert _results(out) == local[0]


def test_this_module_runs_on_one_worker(request):
    # --dist loadgroup groups by a suffix of the node id, which pytest 9.2 no longer lets pytest-xdist
    # add (pytest-xdist issue #1386); without it each worker would start its own cluster.
    if request.config.getvalue("loadgroup"):
        assert request.node.nodeid.endswith("@ray"), "pytest-xdist's loadgroup is not grouping: see constraints.txt"


def test_an_unreachable_cluster_is_one_line_and_exit_4_before_anything_is_written(tmp_path):
    out = tmp_path / "results"
    proc = _ganbench("run", "--arch", "mlp", "--loss", "nonsaturating", "--dataset", "ring8", "--budget", "steps=5",
                     "--results-dir", str(out), "--executor", "ray", "--ray-address", f"127.0.0.1:{_free_port()}", "-q")
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == ExitCode.ENVIRONMENT_ERROR, stderr[-2000:]
    ours = [line for line in stderr.splitlines() if line.startswith("ganbench:")]
    assert len(ours) == 1 and "cannot reach the Ray cluster at 127.0.0.1:" in ours[0]
    assert "Traceback" not in stderr
    assert not (out / "runs").exists() and not (out / "references").exists()
