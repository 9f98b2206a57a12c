"""From a study (or command-line selection) to the list of runs, and running them.

``expand`` turns names and wildcards into concrete :class:`RunSpec` objects, dropping incompatible
combinations with their reason. ``run_all`` hands the specs to an executor and summarises. Executors
only need ``execute(spec, results_dir)``: a run is a pure function of its spec.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from typing import Any, Callable, Iterable, Iterator

from ganbench.errors import UsageError
from ganbench.spec import Budget, ReferenceSpec, RunSpec
from ganbench.study import Matrix, Study


@dataclasses.dataclass
class Plan:
    runs: list[RunSpec]
    skipped: list[tuple[str, str]]  # (variant-dataset, reason)


CLI_OPTIONS = {"archs": "--arch", "losses": "--loss", "techniques": "--technique", "datasets": "--dataset",
               "metrics": "--metric"}


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
    return Plan(list(merged.values()), [s for s in dict.fromkeys(skipped) if s[0] not in planned])


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


def _measured(spec: RunSpec, why: dict[tuple[str, str], str | None], label: str) -> RunSpec:
    """``spec``, unless metrics were named and none applies to it: such a run stores no numbers."""
    if spec.metrics or not why:
        return spec
    named = [m for d, m in why if d == spec.dataset]
    what = f"{named[0]} does not apply" if len(named) == 1 else f"none of {', '.join(named)} applies"
    reasons = "; ".join(why[spec.dataset, m] if len(named) == 1 else f"{m}: {why[spec.dataset, m]}" for m in named)
    raise UsageError(f"{label}: {what} to {spec.dataset} ({reasons}); its runs would measure nothing")


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
    why = _check_metrics(host, matrix, datasets, _key_label(study, label, "metrics"))

    for dataset, arch, loss, techniques in itertools.product(datasets, archs, losses, combos):
        data = host.datasets.get(dataset).info
        metrics = tuple(m.name for m in host.metrics if ("*" in matrix.metrics or m.name in matrix.metrics)
                        and m.supports(data, dataset) is None)
        hparams = {**study.hparams, **study.dataset_hparams.get(dataset, {}), **overrides.get("hparams", {})}
        run_settings = {**study.run, **{k: v for k, v in overrides.items() if k not in ("hparams", "budget") and v is not None}}
        budget = overrides.get("budget") or study.budget_for(dataset)
        for seed in matrix.seeds:
            spec = RunSpec(arch=arch, loss=loss, dataset=dataset, seed=seed, budget=budget,
                           techniques=tuple(techniques), hparams=hparams, metrics=metrics,
                           study=study.name, **run_settings)
            reason = incompatibility(host, spec)
            if reason:
                yield (f"{spec.variant}-{dataset}", reason)
                break
            yield _measured(spec, why, _key_label(study, label, "metrics"))


def command_line_study(archs, losses, techniques, datasets, seeds, budget: Budget | None, metrics) -> Study:
    """The ad-hoc study behind ``ganbench run --arch ... --loss ...``."""
    if not datasets:
        raise UsageError("name at least one --dataset (or use --all / --study NAME)")
    return Study(name="adhoc", archs=list(archs) or ["*"], losses=list(losses) or ["*"],
                 techniques=[tuple(t for t in techniques)] if techniques else [()],
                 datasets=list(datasets), seeds=seeds, metrics=list(metrics) or ["*"],
                 budgets={"default": budget or Budget("steps", 200)}, source="command line")


def references(runs: Iterable[RunSpec]) -> list[ReferenceSpec]:
    """One real-data reference per (dataset, metric set) among ``runs``: held-out samples scored by the
    same metrics, so every table carries the floor its rows are read against."""
    wanted = {}
    for spec in runs:
        if spec.metrics:
            key = (spec.dataset, spec.metrics)
            wanted.setdefault(key, ReferenceSpec(spec.dataset, spec.metrics, device=spec.device, threads=spec.threads))
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
    from ganbench import plugins, progress
    _WORKER_HOST = plugins.load(**selection)
    _WORKER_PROGRESS = progress.QueueProgress(queue) if queue is not None else None


def _worker_run(fn: Callable[..., dict], spec: RunSpec) -> dict:
    extra = {"progress": _WORKER_PROGRESS} if _WORKER_PROGRESS is not None else {}
    return fn(spec, host=_WORKER_HOST, **extra)


class RayExecutor:
    """Ships each spec to a Ray worker (``pip install ganbench[ray]``; ``ray.init`` honours $RAY_ADDRESS).

    Workers load plugins from their own environment and write into ``results_dir``, which must be
    on a file system every worker sees."""

    def __init__(self, num_gpus_per_run: float = 0.0):
        try:
            import ray
        except ImportError:
            raise UsageError("--executor ray needs Ray: pip install 'ganbench[ray]'") from None
        self.ray = ray
        self.num_gpus = num_gpus_per_run
        if not ray.is_initialized():
            ray.init(log_to_driver=False)

    def map(self, fn, specs):
        remote = self.ray.remote(num_gpus=self.num_gpus)(fn)
        refs = {remote.remote(spec): spec for spec in specs}
        pending = list(refs)
        while pending:
            done, pending = self.ray.wait(pending, num_returns=1)
            yield refs[done[0]], self.ray.get(done[0])


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


class SeedGroupExecutor:
    """Wraps an executor so that the seeds of one configuration train together, as one batched
    computation (:func:`ganbench.runner.execute_group`), up to ``size`` at a time. It yields
    ``(spec, result)`` per run like any executor. ``fn`` must be ``functools.partial(runner.execute, ...)``;
    its keyword arguments go to ``execute_group``. Groups the rule set refuses
    (:func:`ganbench.vectorized.unsupported`, checked here when ``host`` is given) are sent as single runs,
    the reason logged once."""

    def __init__(self, inner, size: int | str | None = "auto", host=None):
        self.inner = inner
        self.size = parse_vectorize_seeds(size)
        self.host = host

    def map(self, fn: Callable[[RunSpec], dict], specs: list[RunSpec]) -> Iterable[tuple[RunSpec, dict]]:
        import functools

        from ganbench import runner
        if self.size == 1 or not (isinstance(fn, functools.partial) and fn.func is runner.execute and not fn.args):
            yield from self.inner.map(fn, specs)
            return
        groups: list[list[RunSpec]] = []
        for group in seed_groups(specs, self.size):
            if len(group) > 1 and self.host is not None:
                from ganbench.vectorized import log_fallback, unsupported
                reason = unsupported(self.host, group[0])
                if reason:
                    log_fallback(group[0].variant, reason)
                    groups.extend([spec] for spec in group)
                    continue
            groups.append(group)
        for group, results in self.inner.map(functools.partial(_execute_group, fn), groups):
            yield from zip(group, results)


def _execute_group(fn: Callable[..., dict], group: list[RunSpec], **kwargs) -> list[dict]:
    """One group through ``execute_group`` with ``fn``'s keyword arguments (a lone spec through ``fn``)."""
    if len(group) == 1:
        return [fn(group[0], **kwargs)]
    from ganbench.runner import execute_group
    return execute_group(group, **{**fn.keywords, **kwargs})
