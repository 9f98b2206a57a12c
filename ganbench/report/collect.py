"""Read stored runs (``<results_dir>/runs/<name>/``) into :class:`Run` records.

A results directory is shared with runners that may still be writing, and files may be truncated by
a killed process, so nothing here raises on bad input: a run without ``result.json`` is counted as
incomplete, and every unreadable file or line becomes one line in ``problems`` while the rest of the
report is still built.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from typing import Any

from ganbench.errors import UsageError

STATUSES = ("completed", "diverged", "failed")


@dataclasses.dataclass
class Run:
    name: str                       # directory name
    path: str
    spec: dict[str, Any]            # the whole spec.json
    result: dict[str, Any]          # the whole result.json
    curves: dict[str, list[tuple[int, float]]]  # metric name -> val-split (step, value), by step

    @property
    def inner(self) -> dict[str, Any]:
        return self.spec.get("spec") or {}

    @property
    def status(self) -> str:
        return self.result["status"]

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    @property
    def variant(self) -> str:
        return str(self.spec.get("variant"))

    @property
    def dataset(self) -> str:
        return str(self.inner.get("dataset"))

    @property
    def seed(self) -> int:
        return int(self.inner.get("seed", 0))

    @property
    def study(self) -> str:
        return str(self.inner.get("study") or "default")

    @property
    def task(self) -> str:
        """The run's benchmark task (runs stored before tasks existed are generation runs)."""
        return str(self.inner.get("task") or "generation")

    @property
    def task_table(self) -> str:
        """The title the run's task gives its tables (``api.Task.table``, stored in spec.json)."""
        return str(self.spec.get("task_table") or self.task.replace("_", " "))

    @property
    def budget(self) -> dict[str, Any]:
        b = self.inner.get("budget") or {}
        value = b.get("value")
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 1000 and 1000.0 are one budget, and must land in one table
        return {"kind": str(b.get("kind")), "value": value}

    @property
    def hparams_key(self) -> str:
        """Short hash of the hyperparameters: seeds of one variant are pooled only when these agree."""
        blob = json.dumps(self.inner.get("hparams") or {}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:8]

    def final(self, metric: str) -> dict[str, Any] | None:
        rec = (self.result.get("final") or {}).get(metric)
        return rec if isinstance(rec, dict) else None

    def final_value(self, metric: str) -> float | None:
        rec = self.final(metric)
        value = rec.get("value") if rec is not None else None
        return float(value) if finite(value) or isinstance(value, float) else None

    def final_metrics(self) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in (self.result.get("final") or {}).items() if isinstance(v, dict)}


@dataclasses.dataclass
class Reference:
    """Real held-out data scored like a generator (``<results>/references/<name>/``)."""

    name: str
    spec: dict[str, Any]            # the whole spec.json
    result: dict[str, Any]          # the whole result.json

    @property
    def dataset(self) -> str:
        return str((self.spec.get("spec") or {}).get("dataset"))

    @property
    def kind(self) -> str:
        """``reference`` (real data) or ``baseline`` (a task's baseline, e.g. bicubic upsampling)."""
        return "baseline" if self.spec.get("kind") == "baseline" else "reference"

    @property
    def label(self) -> str:
        if self.kind == "baseline":
            return str(self.spec.get("label") or "baseline")
        split = (self.spec.get("spec") or {}).get("source_split") or "?"
        return f"real data (held-out {split} split)"

    def final(self, metric: str) -> dict[str, Any] | None:
        rec = (self.result.get("final") or {}).get(metric)
        return rec if isinstance(rec, dict) else None


@dataclasses.dataclass
class Collection:
    runs: list[Run]
    incomplete: list[str]
    problems: list[str]
    incomplete_specs: list[dict[str, Any]]  # spec.json of incomplete runs, to count them per variant
    references: list[Reference] = dataclasses.field(default_factory=list)


_UNREADABLE = object()  # what _read_json returns for a file it could not parse (a JSON `null` parses)


def _read_json(path: str, problems: list[str], label: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        problems.append(f"{label}: unreadable ({type(exc).__name__}: {_one_line(exc)})")
        return _UNREADABLE


def _one_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else ""


def _read_curves(path: str, problems: list[str], label: str) -> dict[str, list[tuple[int, float]]]:
    by_name: dict[str, dict[int, float]] = {}
    if not os.path.exists(path):
        return {}
    bad = 0
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    if rec.get("split") != "val":
                        continue
                    # a later line for the same step wins: a resumed run re-evaluates that step
                    by_name.setdefault(str(rec["name"]), {})[int(rec["step"])] = float(rec["value"])
                except (ValueError, KeyError, TypeError, AttributeError):
                    bad += 1
    except OSError as exc:
        problems.append(f"{label}: unreadable ({type(exc).__name__})")
        return {}
    if bad:
        problems.append(f"{label}: {bad} malformed line(s) skipped")
    return {name: sorted(steps.items()) for name, steps in sorted(by_name.items())}


def _check_spec(spec: Any) -> str | None:
    if not isinstance(spec, dict):
        return "not a JSON object"
    if spec.get("schema") != 1:
        return f"unsupported schema {spec.get('schema')!r}"
    inner = spec.get("spec")
    if not isinstance(inner, dict):
        return "missing 'spec'"
    if not isinstance(spec.get("variant"), str):
        return "missing 'variant'"
    for key in ("dataset", "budget"):
        if key not in inner:
            return f"missing 'spec.{key}'"
    if not isinstance(inner.get("seed", 0), int) or isinstance(inner.get("seed", 0), bool):
        return "malformed 'spec.seed'"
    if not isinstance(inner["budget"], dict) or "kind" not in inner["budget"] or "value" not in inner["budget"]:
        return "malformed 'spec.budget'"
    return None


def _check_result(result: Any) -> str | None:
    if not isinstance(result, dict):
        return "not a JSON object"
    if result.get("schema") != 1:
        return f"unsupported schema {result.get('schema')!r}"
    if result.get("status") not in STATUSES:
        return f"unknown status {result.get('status')!r}"
    for key in ("final", "throughput", "params"):
        if not isinstance(result.get(key) or {}, dict):
            return f"malformed '{key}'"
    return None


def collect_references(results_dir: str, problems: list[str]) -> list[Reference]:
    """Every readable ``references/*/`` record; an unreadable one becomes a line in ``problems``."""
    folder = os.path.join(results_dir, "references")
    if not os.path.isdir(folder):
        return []
    out = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not os.path.isfile(os.path.join(path, "result.json")):
            continue
        spec = _read_json(os.path.join(path, "spec.json"), problems, f"references/{name}/spec.json")
        result = _read_json(os.path.join(path, "result.json"), problems, f"references/{name}/result.json")
        if not isinstance(spec, dict) or not isinstance(result, dict) or not isinstance(result.get("final"), dict):
            if spec is not _UNREADABLE and result is not _UNREADABLE:
                problems.append(f"references/{name}: not a reference record")
            continue
        out.append(Reference(name, spec, result))
    return out


def collect_runs(results_dir: str) -> Collection:
    runs_dir = os.path.join(results_dir, "runs")
    runs: list[Run] = []
    incomplete: list[str] = []
    incomplete_specs: list[dict[str, Any]] = []
    problems: list[str] = []
    if not os.path.isdir(results_dir):
        raise UsageError(f"no results directory {results_dir!r}")
    if not os.path.isdir(runs_dir):
        problems.append("runs/: missing (no run has been stored here)")
        return Collection(runs, incomplete, problems, incomplete_specs)
    for name in sorted(os.listdir(runs_dir)):  # sorted: output order must not depend on the filesystem
        path = os.path.join(runs_dir, name)
        if not os.path.isdir(path):
            continue
        spec_path, result_path = os.path.join(path, "spec.json"), os.path.join(path, "result.json")
        if not os.path.exists(result_path):
            incomplete.append(name)
            if os.path.exists(spec_path):
                spec = _read_json(spec_path, [], "")
                if _check_spec(spec) is None:
                    incomplete_specs.append(spec)
            continue
        spec = _read_json(spec_path, problems, f"{name}/spec.json")
        if spec is _UNREADABLE:
            continue
        why = _check_spec(spec)
        if why:
            problems.append(f"{name}/spec.json: {why}")
            continue
        result = _read_json(result_path, problems, f"{name}/result.json")
        if result is _UNREADABLE:
            continue
        why = _check_result(result)
        if why:
            problems.append(f"{name}/result.json: {why}")
            continue
        curves = _read_curves(os.path.join(path, "metrics.jsonl"), problems, f"{name}/metrics.jsonl")
        runs.append(Run(name, path, spec, result, curves))
    return Collection(runs, incomplete, problems, incomplete_specs, collect_references(results_dir, problems))


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
