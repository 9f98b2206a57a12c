"""The sweep's progress: an ETA from the start, corrected by what the runs report, fed from workers."""

import queue as queue_mod

import pytest

from ganbench import progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_eta_before_any_work_is_every_estimate_jobs_at_a_time():
    clock = Clock()
    sweep = progress.SweepProgress({"a": 100.0, "b": 300.0, "c": 200.0}, jobs=2, enabled=False, clock=clock)
    assert sweep.initial_seconds() == pytest.approx(300.0)
    assert sweep.remaining_seconds() == pytest.approx(300.0)


def test_eta_moves_to_the_observed_rate():
    clock = Clock()
    sweep = progress.SweepProgress({"a": 100.0, "b": 100.0}, jobs=1, enabled=False, clock=clock)
    # The machine turns out 4x slower than the timed step said: 50 estimated seconds in 200 s.
    clock.now = 200.0
    sweep.report(["a"], 0.5)
    early = sweep.remaining_seconds()
    clock.now = 2000.0
    sweep.report(["a"], 1.0)
    sweep.report(["b"], 0.25)
    late = sweep.remaining_seconds()
    assert early > 150.0 / 1.0 * 1.5            # already well above the optimistic 150 s
    assert late == pytest.approx(75.0 * 2000.0 / 125.0, rel=0.1)  # close to 4x per estimated second


def test_eta_stays_finite_when_nothing_measurable_is_done():
    """Runs too short for their timed step to register (estimates of 0 s) must not divide by ~0."""
    clock = Clock()
    sweep = progress.SweepProgress({"a": 0.0, "b": 0.0}, jobs=2, enabled=False, clock=clock)
    clock.now = 10 * progress.PRIOR_SECONDS
    sweep.report(["a"], 0.5)
    assert sweep.remaining_seconds() <= sweep.total / sweep.jobs


def test_finished_runs_count_nothing_and_unknown_estimates_count_the_mean():
    sweep = progress.SweepProgress({"stored": 0.0, "x": 10.0, "y": None}, jobs=1, enabled=False, clock=Clock())
    assert sweep.total == pytest.approx(20.0)


def test_a_group_reports_for_all_its_seeds_and_progress_never_goes_back():
    sweep = progress.SweepProgress({"s0": 10.0, "s1": 10.0, "s2": 10.0}, enabled=False, clock=Clock())
    bar = sweep(total=100, initial=0, desc="group", runs=["s0", "s1"])
    bar.update(50)
    bar.close()
    assert sweep.done_seconds() == pytest.approx(10.0)
    assert sweep.running == {"s0", "s1"}
    sweep.report(["s0"], 0.1)
    assert sweep.fraction["s0"] == pytest.approx(0.5)
    sweep.run_finished("s0", "completed")
    sweep.report(["s0"], 0.2)  # a late message from a finished run changes nothing
    assert sweep.fraction["s0"] == 1.0 and "s0" not in sweep.running


def test_worker_updates_reach_the_sweep_over_a_queue():
    sweep = progress.SweepProgress({"r": 10.0}, enabled=False, clock=Clock())
    q = queue_mod.Queue()
    thread = progress.drain(q, sweep.receive)
    bar = progress.QueueProgress(q)(total=4, initial=1, runs=["r"])
    bar.update(1)
    bar.close()
    q.put(None)
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert sweep.fraction["r"] == pytest.approx(0.5)


def test_updates_are_throttled(monkeypatch):
    sent = []
    bar = progress.RunProgress(lambda runs, f: sent.append(f), ["r"], total=1000)
    for _ in range(1000):
        bar.update(1)
    bar.close()
    assert sent[0] == 0.0 and sent[-1] == pytest.approx(1.0)
    assert len(sent) < 50


def test_format_duration():
    assert progress.format_duration(59.6) == "01:00"
    assert progress.format_duration(3725) == "1:02:05"


# -- end to end: estimates from a timed step, progress from worker processes ----------------------

from functools import partial  # noqa: E402

from conftest import run_cli  # noqa: E402
from ganbench import plugins, runner, sweep  # noqa: E402
from ganbench.spec import Budget, RunSpec  # noqa: E402


def _spec(**kw):
    base = dict(arch="mlp", loss="nonsaturating", dataset="ring8", seed=0, budget=Budget("steps", 12),
                hparams={"batch_size": 32}, metrics=(), eval_every=0, evaluations=1, threads=1)
    base.update(kw)
    return RunSpec(**base)


def test_estimate_comes_from_a_timed_step_that_the_runs_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    runner._STEP_COST_CACHE.clear()
    calls = []
    real = runner.measure_step
    monkeypatch.setattr(runner, "measure_step", lambda *a, **k: calls.append(1) or real(*a, **k))
    host = plugins.load()
    short, long = runner.estimate_seconds(_spec(), host), runner.estimate_seconds(_spec(budget=Budget("steps", 120)), host)
    assert 0 < short and long == pytest.approx(10 * short)  # one configuration: one measurement
    runner.execute(_spec(), tmp_path, host=host)
    assert len(calls) == 1  # the run read the estimate's measurement back
    assert runner.estimate_seconds(_spec(budget=Budget("seconds", 7.0)), host) == 7.0


def test_runs_in_worker_processes_report_to_the_sweep(tmp_path):
    specs = [_spec(seed=0), _spec(seed=1, loss="hinge")]
    bar = progress.SweepProgress({s.dirname: 1.0 for s in specs}, jobs=2, enabled=False)
    executor = sweep.ProcessExecutor(2, progress=bar)
    results = list(executor.map(partial(runner.execute, results_dir=str(tmp_path), progress=None), specs))
    assert all(r["status"] == "completed" for _, r in results)
    # Only the workers' messages could have moved these: the executor never reports itself.
    assert bar.fraction == {s.dirname: 1.0 for s in specs}
    assert bar.finished == {}


def test_the_sweep_says_its_estimate_at_the_start_and_its_time_at_the_end(tmp_path):
    proc = run_cli("run", "--arch", "mlp", "--loss", "nonsaturating", "--dataset", "ring8", "--seeds", "0,1",
                   "--budget", "steps=12", "--hparam", "batch_size=32", "--metric", "mode_coverage",
                   "--threads", "1", "--jobs", "2", "--vectorize-seeds", "1", "--results-dir", str(tmp_path),
                   env_extra={"GANBENCH_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    assert "of training: 2 runs to train, 2 at a time" in proc.stderr
    assert "2/2 runs" in proc.stderr and "sweep took" in proc.stderr
    again = run_cli("run", "--arch", "mlp", "--loss", "nonsaturating", "--dataset", "ring8", "--seeds", "0,1",
                    "--budget", "steps=12", "--hparam", "batch_size=32", "--metric", "mode_coverage",
                    "--threads", "1", "--jobs", "2", "--results-dir", str(tmp_path),
                    env_extra={"GANBENCH_CACHE": str(tmp_path / "cache")})
    assert again.returncode == 0 and "of training" not in again.stderr  # nothing left to estimate


# ---------------------------------------------------------------------------------------------------
# Estimates follow how the sweep will train: a seed group is timed as a group

def _specs(arch="mlp", techniques=(), seeds=(0, 1, 2)):
    from ganbench.spec import Budget, RunSpec
    return [RunSpec(arch, "hinge", "ring8", s, Budget("steps", 100), techniques=techniques,
                    metrics=("mode_coverage",)) for s in seeds]


@pytest.fixture(scope="module")
def host():
    from ganbench import plugins
    return plugins.load()


def test_a_seed_group_is_timed_once_and_shared_among_its_seeds(host, monkeypatch):
    from ganbench import runner, sweep, vectorized
    calls = []
    monkeypatch.setattr(vectorized, "estimate_group_seconds", lambda group, *a, **k: calls.append(len(group)) or 30.0)
    monkeypatch.setattr(runner, "estimate_seconds", lambda spec, *a, **k: 7.0)
    specs = _specs()
    assert sweep.estimate(specs, host) == {s.dirname: pytest.approx(10.0) for s in specs} and calls == [3]
    # solo when vectorising is off, or when the configuration cannot be vectorised (a technique)
    assert set(sweep.estimate(specs, host, vectorize_seeds=1).values()) == {7.0}
    assert set(sweep.estimate(_specs(techniques=("ema",)), host).values()) == {7.0} and calls == [3]
    assert list(sweep.estimate(specs, host, vectorize_seeds=2).values()) == pytest.approx([15.0, 15.0, 7.0])


def test_group_estimate_is_measured_on_a_group_step_and_refuses_what_trains_solo(host):
    from ganbench import vectorized
    seconds = vectorized.estimate_group_seconds(_specs(), host, timed_steps=1)
    assert seconds is not None and 0 < seconds < float("inf")
    # DCGAN folds its seeds into channels (when asked for): a group time; spectral norm trains solo: none
    from ganbench.spec import Budget, RunSpec
    tiny = {"batch_size": 8, "ngf": 8, "ndf": 8}
    dcgan = [RunSpec("dcgan", "hinge", "mnist5k", s, Budget("steps", 10), hparams=tiny) for s in (0, 1)]
    assert 0 < vectorized.estimate_group_seconds(dcgan, host, timed_steps=1) < float("inf")
    sngan = [RunSpec("sngan_resnet", "hinge", "mnist5k", s, Budget("steps", 10), hparams={"batch_size": 8})
             for s in (0, 1)]
    assert vectorized.estimate_group_seconds(sngan, host, timed_steps=1) is None


def test_a_group_estimate_is_measured_once_per_configuration_and_read_back(host, monkeypatch, tmp_path):
    from ganbench import runner, vectorized
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(runner, "_STEP_COST_CACHE", {})
    first = vectorized.estimate_group_seconds(_specs(), host, timed_steps=1)
    # a later sweep (a new process: the memory cache is empty) builds no trainer to know it again
    monkeypatch.setattr(runner, "_STEP_COST_CACHE", {})
    monkeypatch.setattr(runner, "build_trainer", lambda *a, **k: pytest.fail("measured again"))
    assert vectorized.estimate_group_seconds(_specs(), host, timed_steps=1) == first
    # a group of another size is another measurement
    monkeypatch.setattr(runner, "_STEP_COST_CACHE", {})
    with pytest.raises(pytest.fail.Exception):
        vectorized.estimate_group_seconds(_specs()[:2], host, timed_steps=1)
