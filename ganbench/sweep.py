"""From a study (or command-line selection) to the list of runs, and running them.

``expand`` turns names and wildcards into concrete :class:`RunSpec` objects, dropping incompatible
combinations with their reason. ``run_all`` hands the specs to an executor and summarises. Executors
only need ``execute(spec, results_dir)``: a run is a pure function of its spec.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from typing import Any, Callable, Iterable

from ganbench.errors import UsageError
from ganbench.spec import Budget, RunSpec
from ganbench.study import Study


@dataclasses.dataclass
class Plan:
    runs: list[RunSpec]
    skipped: list[tuple[str, str]]  # (variant-dataset, reason)


def _names(requested: Iterable[str], registry) -> list[str]:
    requested = list(requested)
    if not requested or "*" in requested:
        return registry.names()
    for name in requested:
        registry.get(name)  # raises UsageError listing the valid names
    return requested


def expand(study: Study, host, overrides: dict[str, Any] | None = None) -> Plan:
    from ganbench.runner import incompatibility

    overrides = overrides or {}
    archs = _names(study.archs, host.architectures)
    losses = _names(study.losses, host.losses)
    datasets = _names(study.datasets, host.datasets)
    combos: list[tuple[str, ...]] = []
    for combo in study.techniques:
        if combo == ("*",):
            combos.append(())
            combos.extend((t,) for t in host.techniques.names())
        else:
            for t in combo:
                host.techniques.get(t)
            combos.append(combo)
    for name in study.metrics:
        if name != "*":
            host.metrics.get(name)

    runs, skipped = [], []
    for dataset, arch, loss, techniques in itertools.product(datasets, archs, losses, combos):
        data = host.datasets.get(dataset).info
        metrics = tuple(m.name for m in host.metrics if ("*" in study.metrics or m.name in study.metrics)
                        and m.supports(data, dataset) is None)
        hparams = {**study.hparams, **study.dataset_hparams.get(dataset, {}), **overrides.get("hparams", {})}
        run_settings = {**study.run, **{k: v for k, v in overrides.items() if k not in ("hparams", "budget") and v is not None}}
        budget = overrides.get("budget") or study.budget_for(dataset)
        for seed in study.seeds:
            spec = RunSpec(arch=arch, loss=loss, dataset=dataset, seed=seed, budget=budget,
                           techniques=tuple(techniques), hparams=hparams, metrics=metrics,
                           study=study.name, **run_settings)
            reason = incompatibility(host, spec)
            if reason:
                skipped.append((f"{spec.variant}-{dataset}", reason))
                break
            runs.append(spec)
    return Plan(runs, list(dict.fromkeys(skipped)))


def command_line_study(archs, losses, techniques, datasets, seeds, budget: Budget | None, metrics) -> Study:
    """The ad-hoc study behind ``ganbench run --arch ... --loss ...``."""
    if not datasets:
        raise UsageError("name at least one --dataset (or use --all / --study NAME)")
    return Study(name="adhoc", archs=list(archs) or ["*"], losses=list(losses) or ["*"],
                 techniques=[tuple(t for t in techniques)] if techniques else [()],
                 datasets=list(datasets), seeds=seeds, metrics=list(metrics) or ["*"],
                 budgets={"default": budget or Budget("steps", 200)}, source="command line")


class LocalExecutor:
    """Runs one spec after another in this process."""

    def map(self, fn: Callable[[RunSpec], dict], specs: list[RunSpec]) -> Iterable[tuple[RunSpec, dict]]:
        for spec in specs:
            yield spec, fn(spec)


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


def summarise(results: list[tuple[RunSpec, dict]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    return counts


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
