"""Resuming (issue 11, items 2 and 8): only from this run's own checkpoint, and with logs that hold
exactly what an uninterrupted run logs, whatever point the process was killed at."""

import os
import pickle
import shutil
import signal

import pytest

from faultlib import child, cli_args, invoke, logs, numbers, run_dirs, spec, temporaries
from ganbench import plugins, runner, store
from ganbench.testing import stopped_after_checkpoint


@pytest.fixture(scope="module")
def host():
    return plugins.load()


@pytest.fixture(scope="module")
def solo(tmp_path_factory, host):
    """Seeds 0 and 1 trained without interruption: {seed: (result, run directory)}."""
    results = tmp_path_factory.mktemp("solo")
    out = {}
    for seed in (0, 1):
        result = runner.execute(spec(seed=seed), results, host=host)
        out[seed] = (result, results / "runs" / spec(seed=seed).dirname)
    return out


def _interrupted(tmp_path, host, monkeypatch, checkpoints: int):
    """Seed 0 stopped right after its ``checkpoints``-th checkpoint, as a kill would stop it."""
    saved = [0]

    def nth_checkpoint(run):
        saved[0] += 1
        return saved[0] == checkpoints

    with stopped_after_checkpoint(monkeypatch, nth_checkpoint), pytest.raises(KeyboardInterrupt):
        runner.execute(spec(seed=0), tmp_path, host=host)
    return tmp_path / "runs" / spec(seed=0).dirname


class Payload:
    """A pickle that would run a command when loaded by a trusting unpickler."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _checkpoint_of_seed_1(solo, run_dir, marker):
    shutil.copy(solo[1][1] / "checkpoint.pt", run_dir / "checkpoint.pt")


def _garbage(solo, run_dir, marker):
    (run_dir / "checkpoint.pt").write_bytes(b"PK\x03\x04 not really a zip")


def _malicious_pickle(solo, run_dir, marker):
    (run_dir / "checkpoint.pt").write_bytes(pickle.dumps(Payload(marker), protocol=2))


def _without_spec_hash(solo, run_dir, marker):
    state = store.torch_load(run_dir / "checkpoint.pt")
    state.pop("spec_hash", None)
    store.atomic_torch_save(run_dir / "checkpoint.pt", state)


def _best_of_seed_1(solo, run_dir, marker):
    shutil.copy(solo[1][1] / "best.pt", run_dir / "best.pt")


CHECKPOINT_FAULTS = {"the checkpoint of another run": _checkpoint_of_seed_1, "garbage": _garbage,
                     "a malicious pickle": _malicious_pickle, "no spec hash": _without_spec_hash,
                     "the best generator of another run": _best_of_seed_1}


@pytest.mark.parametrize("fault", CHECKPOINT_FAULTS)
def test_a_checkpoint_that_is_not_this_runs_is_refused_and_the_run_starts_over(
        tmp_path, host, solo, monkeypatch, capsys, fault):
    run_dir = _interrupted(tmp_path, host, monkeypatch, checkpoints=2)
    marker = tmp_path / "code-ran"
    CHECKPOINT_FAULTS[fault](solo, run_dir, marker)
    capsys.readouterr()

    result = runner.execute(spec(seed=0), tmp_path, host=host)

    reference, reference_dir = solo[0]
    assert numbers(result) == numbers(reference)
    assert logs(run_dir) == logs(reference_dir)
    assert not marker.exists()
    lines = [line for line in capsys.readouterr().err.splitlines() if "not resumed" in line]
    assert len(lines) == 1 and str(run_dir / "checkpoint.pt") in lines[0], lines
    assert len(list(run_dir.glob("checkpoint.pt.rejected-*"))) == 1


def test_stale_temporary_files_are_removed_when_a_run_starts(tmp_path, host):
    quick = spec(metrics=())
    run_dir = tmp_path / "runs" / quick.dirname
    (run_dir / "samples").mkdir(parents=True)
    for name in (".checkpoint.pt.k1d2.tmp", ".result.json.x9.tmp", "samples/.final.png.q.tmp"):
        (run_dir / name).write_bytes(b"half a write")
    assert runner.execute(quick, tmp_path, host=host)["status"] == "completed"
    assert temporaries(run_dir) == []


# Points a kill can hit: before anything is logged, before the first checkpoint, inside the last
# checkpoint's atomic write (its temporary file complete, not renamed), after the test metrics.
KILLS = ["kill-after-spec", "kill-at-stats:10", "kill-replacing:checkpoint.pt:3", "kill-before-result"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    results = tmp_path_factory.mktemp("uninterrupted")
    proc = child("none", *cli_args(results))
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    run_dir = run_dirs(results)[0]
    return store.read_json(run_dir / "result.json"), run_dir


@pytest.mark.parametrize("fault", KILLS)
def test_a_run_killed_anywhere_resumes_to_the_uninterrupted_records(tmp_path, capsys, uninterrupted, fault):
    proc = child(fault, *cli_args(tmp_path))
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == -signal.SIGKILL, err  # the kill point was reached
    run_dir = run_dirs(tmp_path)[0]
    assert not (run_dir / "result.json").exists()

    code, _, err = invoke(capsys, *cli_args(tmp_path))

    assert code == 0, err
    reference, reference_dir = uninterrupted
    assert numbers(store.read_json(run_dir / "result.json")) == numbers(reference)
    assert logs(run_dir) == logs(reference_dir)
    assert temporaries(run_dir) == []
