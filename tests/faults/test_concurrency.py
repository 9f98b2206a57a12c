"""Processes sharing one results directory (issue 11, item 7): each run is trained by one process,
and every process reports every run it was asked for."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

try:
    import fcntl
except ImportError:   # not POSIX: run locks are not taken (store.RunDir.lock)
    fcntl = None

import pytest

from faultlib import child, cli_args, logs, run_dirs, spec
from ganbench import plugins, runner, store


@pytest.fixture(scope="module")
def host():
    return plugins.load()


@pytest.mark.parametrize("vectorize", ["1", "auto"])
def test_two_processes_on_one_results_dir_train_each_run_once(tmp_path, vectorize):
    results, barrier = tmp_path / "results", tmp_path / "barrier"
    barrier.mkdir()
    args = cli_args(results, "--seeds", "0-3", "--vectorize-seeds", vectorize, "--json")
    procs = [child(f"barrier:{barrier}:{name}:2", *args) for name in ("a", "b")]
    outputs = [proc.communicate(timeout=600) for proc in procs]

    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        summary = json.loads(out)
        assert summary["counts"] == {"completed": 4}, err
        assert len({run["dir"] for run in summary["runs"]}) == 4
    for run_dir in run_dirs(results):
        logged = logs(run_dir)
        assert [row[0] for row in logged["stats"]] == [10, 20, 30], run_dir.name
        per_evaluation = Counter((step, split, name) for step, split, name, _ in logged["metrics"])
        assert set(per_evaluation.values()) == {1}, run_dir.name


def test_a_run_held_by_another_process_is_skipped_then_waited_for(tmp_path, host):
    quick = spec(metrics=())
    rd = store.RunDir(tmp_path, quick.dirname)
    lock = rd.lock()
    assert runner.execute(quick, tmp_path, host=host, wait=False) is None
    assert sorted(p.name for p in rd.path.iterdir()) == ["lock"]  # nothing written by the second holder
    lock.release()
    assert runner.execute(quick, tmp_path, host=host, wait=False)["status"] == "completed"


def test_the_kernel_releases_the_lock_of_a_killed_process(tmp_path):
    rd = store.RunDir(tmp_path, "some-run")
    rd.path.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(rd.file(store.LOCK))!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(600)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert rd.lock(wait=False) is None
    finally:
        holder.kill()
        holder.wait()
    lock = rd.lock(wait=False)
    assert lock is not None
    lock.release()


def _held(lock_file) -> bool:
    fd = os.open(lock_file, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _held_locks(results) -> list:
    runs = results / store.RUNS
    return [p for p in runs.glob(f"*/{store.LOCK}") if _held(p)] if runs.is_dir() else []


def _poll(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.skipif(fcntl is None, reason="run locks are flock locks")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_sweep_takes_its_workers_with_it(tmp_path, how):
    """``kill`` of ``ganbench run --jobs 2`` (a scheduler's SIGTERM, or SIGKILL) reaches the sweep's own
    process only: its workers must end too, not go on training their runs and the ones queued for them."""
    results = tmp_path / "results"
    args = ["run", "--arch", "mlp", "--loss", "nonsaturating", "--dataset", "ring8", "--seeds", "0-5",
            "--budget", "steps=10000000", "--hparam", "batch_size=32", "--metric", "mode_coverage",
            "--threads", "1", "--jobs", "2", "--vectorize-seeds", "1", "--quiet", "--results-dir", str(results)]
    sweep = child("none", *args)
    try:
        assert _poll(lambda: len(_held_locks(results)) == 2, 240), sweep.stderr.read() if sweep.poll() else ""
    finally:
        sweep.send_signal(how)
        sweep.communicate(timeout=60)
    assert _poll(lambda: not _held_locks(results), 60), "a worker outlived its sweep"
    time.sleep(2)
    assert not _held_locks(results), "a worker started a queued run after its sweep was killed"
