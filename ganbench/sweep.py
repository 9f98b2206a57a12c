"""From a study (or command-line selection) to the list of runs, and running them.

``expand`` turns names and wildcards into concrete :class:`RunSpec` objects, dropping incompatible
combinations with their reason. :func:`run` scores the real-data references, hands the runs to an
executor (seed groups vectorised), reports progress and one line per run that did not complete, and
returns the :class:`Summary` whose ``exit_code`` the command exits with. Executors only need
``execute(spec, results_dir)``: a run is a pure function of its spec.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import sys
from typing import Any, Callable, Iterable, Iterator

from ganbench.errors import ExitCode, UsageError
from ganbench.spec import Budget, ReferenceSpec, RunSpec
from ganbench.study import SWEEP_SETTINGS, Matrix, Study


@dataclasses.dataclass
class Plan:
    runs: list[RunSpec]
    skipped: list[tuple[str, str]]  # (variant-dataset, reason)


CLI_OPTIONS = {"archs": "--arch", "losses": "--loss", "techniques": "--technique", "datasets": "--dataset",
               "metrics": "--metric", "task": "--task"}


def _key_label(study: Study, matrix_label: str, key: str) -> str:
    """Where a name came from, for messages: the study file and key, or the command-line option."""
    if study.source in ("", "command line"):
        return CLI_OPTIONS[key]
    return f"study {study.source}: {matrix_label}.{key}"


def _names(requested: Iterable[str], registry, label: str = "") -> list[str]:
    requested = list(requested)
    if not requested or "*" in requested:
        return registry.names()
    for name in requested:
        _get(registry, name, label)
    return requested


def _get(registry, name: str, label: str):
    try:
        return registry.get(name)
    except UsageError as exc:  # "unknown loss 'x'; valid: ..." plus the file and key that named it
        raise UsageError(f"{label}: {exc}" if label else str(exc)) from None


def expand(study: Study, host, overrides: dict[str, Any] | None = None, max_runs: int | None = None) -> Plan:
    """Every run of every matrix of ``study``, in matrix order, each run once.

    Matrices may overlap: a spec asked for twice (same ``dirname``) is kept once, and two specs that
    differ only in their metrics become one run measuring the union (two runs of one seed would count
    as two seeds in the report). A combination skipped in one matrix but run by another is not listed
    as skipped. More than ``max_runs`` runs raise UsageError as soon as the count passes it, so a
    mistyped seed range costs no time.
    """
    overrides = overrides or {}
    order = {m.name: i for i, m in enumerate(host.metrics)}
    merged: dict[str, RunSpec] = {}   # dirname without metrics -> spec
    skipped: list[tuple[str, str]] = []
    for i, matrix in enumerate(study.matrix_list(), 1):
        label = f"matrix[{i}]" if study.matrices else "matrix"
        for item in _expand_matrix(study, matrix, host, overrides, label):
            if not isinstance(item, RunSpec):
                skipped.append(item)
                continue
            spec, key = item, dataclasses.replace(item, metrics=()).dirname
            if key in merged:
                both = sorted(set(merged[key].metrics) | set(spec.metrics), key=lambda m: (order.get(m, len(order)), m))
                spec = dataclasses.replace(merged[key], metrics=tuple(both))
            merged[key] = spec
            if max_runs is not None and len(merged) > max_runs:
                raise UsageError(f"study {study.name} expands to more than {max_runs} runs; give --yes to run "
                                 f"them all, or --dry-run to list them")
    planned = {f"{spec.variant}-{spec.dataset}" for spec in merged.values()}
    runs = [dataclasses.replace(spec, plugin_versions=host.distributions_of(
        architectures=spec.arch, losses=spec.loss, techniques=spec.techniques, datasets=spec.dataset,
        metrics=spec.metrics)) for spec in merged.values()]
    return Plan(runs, [s for s in dict.fromkeys(skipped) if s[0] not in planned])


def _check_metrics(host, matrix: Matrix, datasets: list[str], label: str) -> dict[tuple[str, str], str | None]:
    """Why each metric named explicitly does not apply to each dataset (``{}`` for "*", every metric that
    applies). A named metric must apply to some dataset; a run none of them applies to is refused as it
    is expanded (:func:`_measured`)."""
    named = [m for m in matrix.metrics if m != "*"]
    classes = {name: _get(host.metrics, name, label) for name in named}
    if not named or "*" in matrix.metrics:
        return {}
    why = {(d, m): cls.supports(host.datasets.get(d).info, d) for d in datasets for m, cls in classes.items()}
    for metric in named:
        if all(why[d, metric] for d in datasets):
            reasons = "; ".join(f"{d}: {why[d, metric]}" for d in datasets)
            raise UsageError(f"{label}: {metric} applies to none of the datasets ({reasons})")
    return why


def _measured(spec: RunSpec, why: dict[str, str], label: str, where: str) -> RunSpec:
    """``spec``, unless metrics were named and none applies to it: such a run stores no numbers.
    ``why``: each named metric's reason for not applying to this run (``{}`` for "*")."""
    if spec.metrics or not why:
        return spec
    named = list(why)
    what = f"{named[0]} does not apply" if len(named) == 1 else f"none of {', '.join(named)} applies"
    reasons = "; ".join(why[m] if len(named) == 1 else f"{m}: {why[m]}" for m in named)
    raise UsageError(f"{label}: {what} to {where} ({reasons}); its runs would measure nothing")


def _no_encoder(arch: str) -> str:
    return f"it needs an encoder, and {arch} declares none (Architecture.encoder)"


def _metric_reason(host, metric: str, data, dataset: str, task, arch: str) -> str | None:
    """Why ``metric`` does not score runs of ``arch`` on ``dataset`` in ``task`` (``None``: it does)."""
    cls = host.metrics.get(metric)
    why = cls.supports(data, dataset)
    if why:
        return why
    if task.metrics and metric not in task.metrics:   # a task that names its metrics (api.Task.metrics)
        return f"task {task.name} is scored by {', '.join(task.metrics)} only"
    if cls.needs_encoder and not host.architectures.get(arch).encoder:
        return _no_encoder(arch)
    if cls.needs_pairs and task.generator_input == "noise":
        return f"it compares outputs with targets, and task {task.name} gives the generator no input"
    return None


def _expand_matrix(study: Study, matrix: Matrix, host, overrides: dict[str, Any], label: str = "matrix"
                   ) -> Iterator[RunSpec | tuple[str, str]]:
    """The runs of one matrix, and a ``(variant-dataset, reason)`` pair per skipped combination,
    lazily (see ``max_runs`` in :func:`expand`)."""
    from ganbench.runner import incompatibility

    archs = _names(matrix.archs, host.architectures, _key_label(study, label, "archs"))
    losses = _names(matrix.losses, host.losses, _key_label(study, label, "losses"))
    datasets = _names(matrix.datasets, host.datasets, _key_label(study, label, "datasets"))
    combos: list[tuple[str, ...]] = []
    for combo in matrix.techniques:
        if combo == ("*",):
            combos.append(())
            combos.extend((t,) for t in host.techniques.names())
        else:
            for t in combo:
                _get(host.techniques, t, _key_label(study, label, "techniques"))
            combos.append(combo)
    task = _get(host.tasks, matrix.task, _key_label(study, label, "task"))
    why = _check_metrics(host, matrix, datasets, _key_label(study, label, "metrics"))

    for dataset, arch, loss, techniques in itertools.product(datasets, archs, losses, combos):
        data = host.datasets.get(dataset).info
        reasons = {m.name: _metric_reason(host, m.name, data, dataset, task, arch) for m in host.metrics
                   if "*" in matrix.metrics or m.name in matrix.metrics}
        metrics = tuple(m for m, reason in reasons.items() if reason is None)
        # metrics that read an encoder apply only to architectures declaring one (api.Metric.needs_encoder)
        no_encoder = tuple(m for m, reason in reasons.items() if reason == _no_encoder(arch))
        if no_encoder and not metrics:
            yield (f"{arch}-{loss}{''.join('+' + t for t in techniques)}-{dataset}",
                   f"{', '.join(no_encoder)}: {'needs' if len(no_encoder) == 1 else 'need'} an encoder, and "
                   f"{arch} declares none (Architecture.encoder)")
            continue
        hparams = {**study.hparams_of(matrix, dataset), **overrides.get("hparams", {})}
        run_settings = {**{k: v for k, v in study.run.items() if k not in SWEEP_SETTINGS},
                        **{k: v for k, v in overrides.items() if k not in ("hparams", "budget") and v is not None}}
        budget = overrides.get("budget") or study.budget_of(matrix, dataset)
        for seed in matrix.seeds:
            spec = RunSpec(arch=arch, loss=loss, dataset=dataset, seed=seed, budget=budget,
                           techniques=tuple(techniques), hparams=hparams, metrics=metrics,
                           task=task.name, study=study.name, **run_settings)
            reason = incompatibility(host, spec)
            if reason:
                yield (f"{spec.variant}-{dataset}", reason)
                break
            named = {m: reasons[m] for m in matrix.metrics if m != "*"} if why else {}
            yield _measured(spec, named, _key_label(study, label, "metrics"), f"{spec.variant}-{dataset}")


def command_line_study(archs, losses, techniques, datasets, seeds, budget: Budget | None, metrics) -> Study:
    """The ad-hoc study behind ``ganbench run --arch ... --loss ...``."""
    if not datasets:
        raise UsageError("name at least one --dataset (or use --all / --study NAME)")
    return Study(name="adhoc", archs=list(archs) or ["*"], losses=list(losses) or ["*"],
                 techniques=[tuple(t for t in techniques)] if techniques else [()],
                 datasets=list(datasets), seeds=seeds, metrics=list(metrics) or ["*"],
                 budgets={"default": budget or Budget("steps", 200)}, source="command line")


def references(runs: Iterable[RunSpec], host=None) -> list[ReferenceSpec]:
    """One real-data reference per (dataset, metric set) among ``runs``: held-out samples scored by the
    same metrics, so every table carries the floor its rows are read against; and, for runs of a task
    declaring a baseline (``api.Task.baseline_label``), that baseline scored the same way."""
    wanted = {}
    for spec in runs:
        if spec.metrics:
            key = (spec.dataset, spec.metrics)
            # real data has no encoder and no pairs: a metric set of nothing else scores no real-data row
            scored = host is None or any(not (m.needs_pairs or m.needs_encoder)
                                         for m in (host.metrics.get(name) for name in spec.metrics))
            if scored:
                wanted.setdefault(key, ReferenceSpec(spec.dataset, spec.metrics, device=spec.device,
                                                     threads=spec.threads))
            if host is not None and host.tasks.get(spec.task).baseline_label:
                wanted.setdefault((*key, spec.task), ReferenceSpec(spec.dataset, spec.metrics, device=spec.device,
                                                                   threads=spec.threads, baseline=spec.task))
    return list(wanted.values())


class LocalExecutor:
    """Runs one spec after another in this process."""

    def map(self, fn: Callable[[RunSpec], dict], specs: list[RunSpec]) -> Iterable[tuple[RunSpec, dict]]:
        for spec in specs:
            yield spec, fn(spec)


class ProcessExecutor:
    """Runs specs in ``jobs`` worker processes on this machine (``concurrent.futures``, spawn start
    method: a forked child of a process that has run torch's thread pools can deadlock). Each worker
    loads its own plugin host once; results come back as they finish. Small GANs use one core each,
    so on a 2-core machine two jobs nearly double a sweep's throughput."""

    def __init__(self, jobs: int, plugin_selection: dict[str, Any] | None = None, progress=None):
        self.jobs = int(jobs)
        self.selection = dict(plugin_selection or {})
        self.progress = progress  # a progress.SweepProgress: the workers' runs report to it over a queue

    def map(self, fn: Callable[[RunSpec], dict], specs: list[RunSpec]) -> Iterable[tuple[RunSpec, dict]]:
        import concurrent.futures
        import multiprocessing

        from ganbench import progress
        context = multiprocessing.get_context("spawn")
        # A queue reaches workers only by inheritance, hence through the initializer, not the tasks.
        queue = context.Queue() if self.progress is not None else None
        drainer = progress.drain(queue, self.progress.receive) if queue is not None else None
        try:
            with concurrent.futures.ProcessPoolExecutor(self.jobs, mp_context=context, initializer=_worker_init,
                                                        initargs=(self.selection, queue)) as pool:
                futures = {pool.submit(_worker_run, fn, spec): spec for spec in specs}
                try:
                    for future in concurrent.futures.as_completed(futures):
                        yield futures[future], future.result()
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
        finally:
            if queue is not None:
                queue.put(None)
                drainer.join(timeout=5)


_WORKER_HOST = None
_WORKER_PROGRESS = None


def _worker_init(selection: dict[str, Any], queue=None) -> None:
    global _WORKER_HOST, _WORKER_PROGRESS
    _exit_with_parent()
    from ganbench import plugins, progress
    _WORKER_HOST = plugins.load(**selection)
    _WORKER_PROGRESS = progress.QueueProgress(queue) if queue is not None else None


def _exit_with_parent() -> None:
    """End this worker when the sweep's process ends. A ``kill`` (SIGTERM, as schedulers and
    ``timeout`` send) or SIGKILL of ``ganbench run`` reaches it alone, and its workers would go on
    training the runs already queued for them, holding their locks. The run a worker is training when
    it ends resumes from its last checkpoint next time (its files are written atomically)."""
    import multiprocessing
    import threading
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()   # returns when the parent's end of the spawn pipe closes: it has exited
        os._exit(ExitCode.RUNS_FAILED)

    threading.Thread(target=watch, name="ganbench-parent-watch", daemon=True).start()


def _worker_run(fn: Callable[..., dict], spec: RunSpec) -> dict:
    extra = {"progress": _WORKER_PROGRESS} if _WORKER_PROGRESS is not None else {}
    return fn(spec, host=_WORKER_HOST, **extra)


class RayExecutor:
    """Ships each spec (or seed group) to a Ray worker as one task (``pip install 'ganbench[ray]'``).

    ``address`` (or ``$RAY_ADDRESS``) joins an existing cluster; without one, ``ray.init`` starts a local
    one on this machine, shut down again when the sweep ends. Every worker loads the plugins of its own
    environment once and writes into the results directory, which must be on a file system all nodes
    see; the per-run lock (``store.RunDir.lock``) keeps two workers off one run. A task whose worker dies
    is retried by Ray (``max_retries``) on another worker and resumes from the run's last checkpoint.
    Interrupting the sweep cancels the tasks still queued or running (their runs resume next time)."""

    def __init__(self, address: str | None = None, cpus_per_run: float = 1, gpus_per_run: float = 0.0,
                 plugin_selection: dict[str, Any] | None = None, progress=None, max_retries: int = 3):
        try:
            import ray
        except ImportError:
            raise UsageError("--executor ray needs Ray: pip install 'ganbench[ray]'") from None
        self.ray = ray
        self.cpus, self.gpus = float(cpus_per_run), float(gpus_per_run)
        self.selection = dict(plugin_selection or {})
        self.progress = progress
        self.max_retries = int(max_retries)
        self.started_here = not ray.is_initialized()
        if self.started_here:
            from ganbench.errors import EnvironmentProblem
            address = address or os.environ.get("RAY_ADDRESS") or None
            refused = _unreachable(address) if address else None
            if refused:  # said at once: ray.init retries a closed port for minutes
                raise EnvironmentProblem(f"cannot reach the Ray cluster at {address}: {refused}")
            try:  # address=None: a new local cluster
                ray.init(address=address or None, log_to_driver=False, include_dashboard=False,
                         configure_logging=False)
            except (ConnectionError, ray.exceptions.RayError) as exc:
                where = f"the Ray cluster at {address}" if address else "a Ray cluster"
                raise EnvironmentProblem(f"cannot reach {where}: {type(exc).__name__}: "
                                         f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''} (a cluster "
                                         f"with token authentication also needs RAY_AUTH_MODE=token and its token, "
                                         f"see Ray's docs)") from None

    @property
    def parallelism(self) -> int:
        """How many runs the cluster holds at once with each run's resources (for the ETA)."""
        total = self.ray.cluster_resources()
        fits = [total.get("CPU", 1.0) / self.cpus] if self.cpus > 0 else []
        if self.gpus > 0:
            fits.append(total.get("GPU", 0.0) / self.gpus)
        return max(1, int(min(fits))) if fits else 1

    def map(self, fn: Callable[[RunSpec], dict], specs: list) -> Iterable[tuple[RunSpec, dict]]:
        from ganbench import progress as progress_mod
        ray = self.ray
        task = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=self.max_retries)(_ray_run)
        queue = drainer = None
        if self.progress is not None:
            from ray.util.queue import Queue
            queue = Queue(actor_options={"num_cpus": 0})
            drainer = progress_mod.drain(queue, self.progress.receive)
        refs = {task.remote(fn, spec, self.selection, queue): spec for spec in specs}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                item = refs[done[0]]
                try:
                    yield item, ray.get(done[0])
                except ray.exceptions.RayError as exc:  # the worker died more often than Ray retries
                    error = f"Ray task lost: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                    failed = {"status": "failed", "error": error}
                    yield item, [dict(failed) for _ in item] if isinstance(item, list) else failed
        except BaseException:
            for ref in pending:   # queued and running tasks; a killed run resumes from its checkpoint
                ray.cancel(ref, force=True)
            raise
        finally:
            if queue is not None:
                queue.put(None)
                drainer.join(timeout=5)
                queue.shutdown()

    def close(self) -> None:
        if self.started_here and self.ray.is_initialized():
            self.ray.shutdown()


def _unreachable(address: str) -> str | None:
    """Why nothing answers at a Ray ``HOST:PORT`` (or ``ray://HOST:PORT``) address, or ``None``
    (also for the names Ray resolves itself, such as ``auto``)."""
    import socket
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not port.isdigit():
        return None
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def _ray_run(fn: Callable[..., dict], spec, selection: dict[str, Any], queue=None):
    """One Ray task: ``fn(spec)`` with this worker's plugin host (loaded once per worker process)."""
    global _WORKER_HOST
    from ganbench import progress
    if _WORKER_HOST is None:
        _worker_init(selection)
    extra = {"progress": progress.QueueProgress(queue)} if queue is not None else {}
    return fn(spec, host=_WORKER_HOST, **extra)


def shared_map(executor, fn: Callable[..., dict | None], specs: list[RunSpec]) -> Iterable[tuple[RunSpec, dict]]:
    """``executor.map(fn, specs)`` on a results directory other processes may be training in too.

    ``fn`` is ``functools.partial(runner.execute, ...)``. A first pass trains every run nobody else
    holds (``wait=False``: a held run comes back as ``None``), then a second one waits for the held
    runs and yields what their holders stored (or trains them, if a holder died). No run is trained
    twice, and each process reports every run it was asked for."""
    import functools

    held = []
    for spec, result in executor.map(functools.partial(fn, wait=False), specs):
        if result is None:
            held.append(spec)
        else:
            yield spec, result
    if held:
        log(f"waiting for {len(held)} run(s) another process is training")
        # Their records are fresh, whatever they say: --retry-failed is for records found at the start.
        yield from executor.map(functools.partial(fn, wait=True, retry_failed=False), held)


def stored_failures(results_dir, specs: Iterable[RunSpec]) -> set[str]:
    """Directory names of the runs among ``specs`` stored as failed or diverged."""
    from ganbench import store
    out = set()
    for spec in specs:
        try:
            result = store.RunDir(results_dir, spec.dirname).result()
        except store.UnreadableRecord:
            continue  # not a stored failure: it is trained again
        if result is not None and result["status"] != "completed":
            out.add(spec.dirname)
    return out


def not_reused(results_dir, specs: Iterable[RunSpec]) -> list[str]:
    """One line per change of plugin versions that makes stored runs train again: a run of ``specs``
    with no directory of its own, beside a stored run of the same name whose specification differs only
    in ``plugin_versions`` (a plugin's new release, or the harness's)."""
    from ganbench import store
    changes: dict[str, int] = {}
    for spec in specs:
        rd = store.RunDir(results_dir, spec.dirname)
        if rd.path.exists():
            continue
        ignored = ("study", "plugin_versions", "device")  # device: stored resolved ("auto" -> "cpu")
        wanted = {k: v for k, v in spec.to_dict().items() if k not in ignored}
        for other in sorted(rd.path.parent.glob(f"{spec.name}-*")):
            try:
                record = store.read_json(other / store.SPEC)
                stored = {"ddp": 1, **record["spec"], "hparams": record["overrides"]}  # overrides only; ddp 1 if unrecorded
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if {k: v for k, v in stored.items() if k not in ignored} != wanted:
                continue
            before, now = dict(stored.get("plugin_versions") or {}), dict(spec.plugin_versions)
            changed = ", ".join(f"{dist} {before.get(dist, '(none)')} -> {now.get(dist, '(none)')}"
                                for dist in sorted(set(before) | set(now)) if before.get(dist) != now.get(dist))
            key = changed or "versions not recorded before"
            changes[key] = changes.get(key, 0) + 1
            break
    return [f"{count} stored run{'s' if count > 1 else ''} of the same name{' is' if count == 1 else 's are'} "
            f"not reused: made with other plugin versions ({change}); training again"
            for change, count in changes.items()]


@dataclasses.dataclass(frozen=True)
class Settings:
    """How a sweep is executed: never part of any run (no RunSpec field, no result)."""

    results_dir: str
    jobs: int = 1
    executor: str = "local"                  # local | ray
    ray_address: str | None = None           # --ray-address; None: $RAY_ADDRESS, else a local cluster
    cpus_per_run: float = 1                  # Ray resources of each task
    gpus_per_run: float = 0.0
    vectorize_seeds: int | str | None = "auto"
    retry_failed: bool = False
    show_progress: bool = True
    data_root: str | None = None
    download: bool = False
    plugin_selection: dict = dataclasses.field(default_factory=dict)  # disable/only, for worker hosts


@dataclasses.dataclass
class Summary:
    outcomes: list[tuple[RunSpec, dict]]     # in the order the runs ended

    @property
    def counts(self) -> dict[str, int]:
        return summarise(self.outcomes)

    @property
    def exit_code(self) -> ExitCode:
        """1 when any run did not complete (failed or diverged), else 0 (see README, exit codes)."""
        return ExitCode.RUNS_FAILED if any(r["status"] != "completed" for _, r in self.outcomes) else ExitCode.OK


def run(study_name: str, plan: Plan, refs: list[ReferenceSpec], host, settings: Settings) -> Summary:
    """Score ``refs``, then train and evaluate every run of ``plan`` not stored yet (stored ones are
    read back), logging on stderr; the summary of every run's outcome."""
    from ganbench import store
    results_dir, jobs = settings.results_dir, settings.jobs
    failures = stored_failures(results_dir, plan.runs)
    unfinished = [spec for spec in plan.runs if not store.RunDir(results_dir, spec.dirname).finished
                  or (settings.retry_failed and spec.dirname in failures)]
    if not unfinished:
        jobs = 1  # every run is stored: reading results back needs no worker processes
    # Connected before anything is written: an unreachable cluster leaves the results directory as it was.
    ray = RayExecutor(settings.ray_address, settings.cpus_per_run, settings.gpus_per_run,
                      settings.plugin_selection) if settings.executor == "ray" and unfinished else None
    # Ray's driver prints cluster events ("a worker died ...") on stdout, which carries only data.
    with contextlib.redirect_stdout(sys.stderr) if ray is not None else contextlib.nullcontext():
        try:
            return _score_and_train(study_name, plan, refs, host, settings, jobs, unfinished, failures, ray)
        finally:
            if ray is not None:
                ray.close()


def _score_and_train(study_name: str, plan: Plan, refs: list[ReferenceSpec], host, settings: Settings, jobs: int,
                     unfinished: list[RunSpec], failures: set[str], ray: RayExecutor | None) -> Summary:
    from ganbench.runner import execute_reference
    for ref in refs:
        # Seconds, not minutes: real data through the metrics, the row every table is read against.
        done = execute_reference(ref, settings.results_dir, host=host, data_root=settings.data_root,
                                 download=settings.download)
        if done.get("metric_errors"):
            log(f"reference {ref.dirname}: metric errors {done['metric_errors']}")
    for line in not_reused(settings.results_dir, plan.runs):
        log(line)
    return _train(study_name, plan, host, settings, jobs if ray is None else ray.parallelism, unfinished, failures, ray)


def _train(study_name: str, plan: Plan, host, settings: Settings, jobs: int, unfinished: list[RunSpec],
           failures: set[str], ray: RayExecutor | None) -> Summary:
    import functools
    import time

    from ganbench.progress import SweepProgress, format_duration
    from ganbench.runner import execute
    results_dir = settings.results_dir
    failed_before = set() if settings.retry_failed else failures
    parallel = ray is not None or jobs > 1
    show = settings.show_progress
    estimates: dict[str, float | None] = {spec.dirname: 0.0 for spec in plan.runs}
    log(f"study {study_name}: {len(plan.runs)} runs, {len(plan.skipped)} combinations skipped; "
        f"results in {results_dir}/runs")
    runs = list(plan.runs)
    if unfinished and (show or parallel):
        # One timed step per configuration, or per seed group (cached on disk, read again by the runs).
        timing = time.monotonic()
        estimates.update(estimate(unfinished, host, settings.vectorize_seeds, settings.data_root, settings.download))
        log(f"about {format_duration(sum(e or 0.0 for e in estimates.values()) / jobs)} of training: "
            f"{len(unfinished)} runs to train, {jobs} at a time, from one timed step per configuration or seed group "
            f"({time.monotonic() - timing:.0f} s; evaluation not included, the ETA corrects itself as runs report)")
        if parallel:
            # Longest first, so that no long run starts last and leaves the other workers idle.
            runs.sort(key=lambda spec: -(estimates[spec.dirname] or 0.0))
    bar = SweepProgress(estimates, jobs=jobs, enabled=show, inner_bars=not parallel)
    fn = functools.partial(execute, results_dir=results_dir, data_root=settings.data_root,
                           download=settings.download, progress=None if parallel or not show else bar,
                           retry_failed=settings.retry_failed)
    if ray is not None:
        executor = ray
        ray.progress = bar if show else None
    elif jobs > 1:
        executor = ProcessExecutor(jobs, settings.plugin_selection, progress=bar if show else None)
    else:
        executor = LocalExecutor()
        fn = functools.partial(fn, host=host)
    executor = SeedGroupExecutor(executor, settings.vectorize_seeds, host=host)
    outcomes = []
    started = time.monotonic()
    for spec, result in shared_map(executor, fn, runs):
        outcomes.append((spec, result))
        bar.run_finished(spec.dirname, result["status"])
        if result["status"] != "completed":
            earlier = "; stored result from an earlier attempt; --retry-failed to run it again" \
                if spec.dirname in failed_before else ""
            log(f"{result['status']}: {spec.name}: {result.get('error')}{earlier}")
    bar.close()
    if unfinished:
        took = f"sweep took {format_duration(time.monotonic() - started)}"
        log(f"{took} (estimated {format_duration(bar.initial_seconds())} at the start)" if show or parallel else took)
    summary = Summary(outcomes)
    log("summary: " + ", ".join(f"{n} {k}" for k, n in sorted(summary.counts.items())))
    return summary


def summarise(results: list[tuple[RunSpec, dict]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    return counts


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------
# K seeds of one configuration in one process (ganbench.vectorized): grouping and its executor.

def parse_vectorize_seeds(value: int | str | None) -> int:
    """``--vectorize-seeds``: ``auto`` (or None) groups every seed of a configuration, at most 8;
    ``1`` trains every run solo; ``K`` groups at most K seeds."""
    if value is None or str(value).strip().lower() == "auto":
        return 8
    try:
        k = int(str(value).strip())
    except ValueError:
        k = 0
    if k < 1:
        raise UsageError(f"invalid --vectorize-seeds {value!r}; expected auto or a whole number >= 1")
    return k


def explicit_vectorize_seeds(value: int | str | None) -> bool:
    """Whether ``--vectorize-seeds`` names a group size rather than ``auto`` (CUDA vectorises only then)."""
    return value is not None and str(value).strip().lower() != "auto"


def seed_groups(specs: Iterable[RunSpec], size: int) -> list[list[RunSpec]]:
    """Specs equal except for their seed, grouped in order of first appearance, at most ``size`` a group."""
    by_config: dict[str, list[RunSpec]] = {}
    for spec in specs:
        key = dataclasses.replace(spec, seed=0, study="").dirname
        by_config.setdefault(key, []).append(spec)
    groups = []
    for members in by_config.values():
        groups.extend(members[i:i + max(1, size)] for i in range(0, len(members), max(1, size)))
    return groups


def planned_groups(specs: Iterable[RunSpec], host, vectorize_seeds: int | str | None = "auto"
                   ) -> list[tuple[list[RunSpec], str | None]]:
    """How ``specs`` will train: ``(group, reason)`` pairs, a group of several seeds trained as one
    batched computation with ``reason`` ``None``, or a lone run with why its seeds train solo (``None``
    when there was nothing to group: one seed, or ``--vectorize-seeds 1``). Decided from the
    declarations (:func:`ganbench.vectorized.unsupported`), as :class:`SeedGroupExecutor` decides; a
    group whose built networks break their declaration still falls back when it starts."""
    from ganbench.vectorized import unsupported
    size = parse_vectorize_seeds(vectorize_seeds)
    explicit = explicit_vectorize_seeds(vectorize_seeds)
    if size == 1:
        return [([spec], None) for spec in specs]
    planned: list[tuple[list[RunSpec], str | None]] = []
    for group in seed_groups(specs, size):
        reason = unsupported(host, group[0], explicit) if len(group) > 1 else None
        if reason:
            planned.extend(([spec], reason) for spec in group)
        else:
            planned.append((group, None))
    return planned


def estimate(specs: list[RunSpec], host, vectorize_seeds: int | str | None = "auto", data_root: str | None = None,
             download: bool = False) -> dict[str, float | None]:
    """Each run's estimated seconds of training (the sweep's ETA), grouped as :class:`SeedGroupExecutor`
    will group them: a seed group's time is measured on a group step and split evenly among its seeds;
    a solo run's is its budget times one timed step (:func:`ganbench.runner.estimate_seconds`)."""
    from ganbench.runner import estimate_seconds
    from ganbench.vectorized import estimate_group_seconds
    out: dict[str, float | None] = {}
    for group, _ in planned_groups(specs, host, vectorize_seeds):
        seconds = estimate_group_seconds(group, host, data_root, download) if len(group) > 1 else None
        for spec in group:
            out[spec.dirname] = seconds / len(group) if seconds else estimate_seconds(spec, host, data_root, download)
    return out


class SeedGroupExecutor:
    """Wraps an executor so that the seeds of one configuration train together, as one batched
    computation (:func:`ganbench.runner.execute_group`), up to ``size`` at a time. It yields
    ``(spec, result)`` per run like any executor. ``fn`` must be ``functools.partial(runner.execute, ...)``;
    its keyword arguments go to ``execute_group``. Groups the rule set refuses
    (:func:`ganbench.vectorized.unsupported`, checked here when ``host`` is given) are sent as single runs,
    the reason logged once."""

    def __init__(self, inner, size: int | str | None = "auto", host=None):
        self.inner = inner
        self.vectorize_seeds = size
        self.size = parse_vectorize_seeds(size)
        self.explicit = explicit_vectorize_seeds(size)
        self.host = host

    def map(self, fn: Callable[[RunSpec], dict], specs: list[RunSpec]) -> Iterable[tuple[RunSpec, dict]]:
        import functools

        from ganbench import runner
        if self.size == 1 or not (isinstance(fn, functools.partial) and fn.func is runner.execute and not fn.args):
            yield from self.inner.map(fn, specs)
            return
        from ganbench import store
        from ganbench.vectorized import log_fallback
        results_dir = fn.keywords.get("results_dir")
        if self.host is None:   # the rule set is checked where the group trains
            planned = [(group, None) for group in seed_groups(specs, self.size)]
        else:
            planned = planned_groups(specs, self.host, self.vectorize_seeds)
        groups: list[list[RunSpec]] = []
        for group, reason in planned:
            # said (once a process) only when something will train: stored runs are read back either way
            if reason and (results_dir is None or not store.RunDir(results_dir, group[0].dirname).finished):
                log_fallback(group[0].variant, reason)
            groups.append(group)
        for group, results in self.inner.map(functools.partial(_execute_group, fn, explicit=self.explicit), groups):
            yield from zip(group, results)


def _execute_group(fn: Callable[..., dict], group: list[RunSpec], explicit: bool = False, **kwargs) -> list[dict]:
    """One group through ``execute_group`` with ``fn``'s keyword arguments (a lone spec through ``fn``);
    ``explicit``: the group size was asked for, not ``auto``."""
    if len(group) == 1:
        return [fn(group[0], **kwargs)]
    from ganbench.runner import execute_group
    return execute_group(group, explicit=explicit, **{**fn.keywords, **kwargs})
