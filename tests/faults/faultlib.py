"""What the fault tests share: tiny runs, the `ganbench` command in this process or in a child
process with a fault injected (``_child.py``), and how two runs are compared."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ganbench import hookimpl, store
from ganbench.spec import Budget, RunSpec
from ganbench.testing import invoke_cli as invoke  # noqa: F401 - the fault tests call it invoke

CHILD = Path(__file__).with_name("_child.py")
TINY = {"batch_size": 32}


def spec(**kw) -> RunSpec:
    base = dict(arch="mlp", loss="nonsaturating", dataset="ring8", seed=0, budget=Budget("steps", 30),
                hparams=TINY, metrics=("mode_coverage",), eval_every=10, threads=1)
    base.update(kw)
    return RunSpec(**base)


def cli_args(results_dir: Path, *extra: str) -> list[str]:
    """A `ganbench run` of one tiny run on the ring (30 steps, evaluated and checkpointed every 10)."""
    return ["run", "--arch", "mlp", "--loss", "nonsaturating", "--dataset", "ring8", "--budget", "steps=30",
            "--hparam", "batch_size=32", "--metric", "mode_coverage", "--eval-every", "10", "--threads", "1",
            "--quiet", "--results-dir", str(results_dir), *extra]


def child(fault: str, *args: str) -> subprocess.Popen:
    """``ganbench ARGS`` in a fresh process, with ``fault`` injected (see ``_child.py``)."""
    return subprocess.Popen([sys.executable, str(CHILD), fault, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def run_dirs(results_dir: Path) -> list[Path]:
    return sorted(p for p in (Path(results_dir) / "runs").iterdir() if p.is_dir())


def numbers(result: dict) -> str:
    """What a run computed, without timing; JSON so that NaN equals NaN."""
    def values(metrics):
        return {k: [m["value"], m["num_samples"], m["reference_split"], m["extractor"]]
                for k, m in sorted((metrics or {}).items())}
    selected = result.get("selected") or {}
    return json.dumps({"status": result["status"], "steps": result.get("steps"),
                       "weights_hash": result.get("weights_hash"), "final": values(result.get("final")),
                       "selected": [selected.get("step"), values(selected.get("metrics"))]})


def logs(run_dir: Path) -> dict[str, list]:
    """Every logged line without its timing fields, in order."""
    metrics = [[r["step"], r["split"], r["name"], r["value"]] for r in store.read_jsonl(run_dir / store.METRICS)]
    stats = [[r["step"], r["kimg"], r["loss_d"], r["loss_g"]] for r in store.read_jsonl(run_dir / store.STATS)]
    return {"metrics": metrics, "stats": stats}


def temporaries(run_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob(".*.tmp"))


def with_plugin(monkeypatch, name: str, plugin) -> None:
    """Make every plugin host of this process (the command line's too) load ``plugin`` as well."""
    from ganbench import plugins
    real = plugins.load
    monkeypatch.setattr(plugins, "load", lambda *a, **kw: real(*a, extra=[(name, plugin)], **kw))


class Registers:
    """A plugin object that registers ``classes`` of one kind (``losses``, ``metrics``)."""

    def __init__(self, kind: str, *classes):
        setattr(self, f"ganbench_register_{kind}", hookimpl(lambda registry: [registry.add(c) for c in classes]))
