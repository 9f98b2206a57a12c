"""Studies: a TOML file naming a matrix of runs and the tables it feeds.

::

    [study]
    name = "mode-collapse"
    description = "..."

    [matrix]
    archs = ["mlp"]                      # "*" = every installed architecture
    losses = ["*"]
    techniques = ["none", "pacgan", "unrolled", "pacgan+ema"]   # combinations; "*" = none + each alone
    datasets = ["ring8", "grid25"]
    seeds = [0, 1, 2]                    # or "0-4"
    metrics = ["*"]                      # "*" = every metric that supports the dataset

    [budget]                             # one budget for all, or per dataset
    default = "steps=500"
    mnist5k = "kimg=20"

    [hparams]                            # overrides applied to every run
    [hparams.mnist5k]                    # ... or to one dataset's runs

    [run]                                # execution settings
    eval_every = 0
    device = "auto"

Built-in studies live in ``ganbench/studies/<name>.toml``; ``ganbench run --study NAME|FILE``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from ganbench.errors import UsageError
from ganbench.spec import DEVICES, PRECISIONS, Budget, parse_seeds

SCHEMA: dict[str, dict[str, type | tuple]] = {
    "study": {"name": str, "description": str, "tables": list},
    "matrix": {"archs": list, "losses": list, "techniques": list, "datasets": list, "seeds": (list, str),
               "metrics": list},
    "budget": {},     # free keys: "default" or a dataset name -> budget string
    "hparams": {},    # free keys
    "run": {"eval_every": int, "evaluations": int, "checkpoint_every": int, "device": str, "precision": str,
            "channels_last": bool, "compile": bool, "threads": int},
}


@dataclasses.dataclass
class Study:
    name: str
    description: str = ""
    archs: list[str] = dataclasses.field(default_factory=lambda: ["*"])
    losses: list[str] = dataclasses.field(default_factory=lambda: ["*"])
    techniques: list[tuple[str, ...]] = dataclasses.field(default_factory=lambda: [()])
    datasets: list[str] = dataclasses.field(default_factory=list)
    seeds: tuple[int, ...] = (0,)
    metrics: list[str] = dataclasses.field(default_factory=lambda: ["*"])
    budgets: dict[str, Budget] = dataclasses.field(default_factory=dict)
    hparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    dataset_hparams: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    run: dict[str, Any] = dataclasses.field(default_factory=dict)
    tables: list[str] = dataclasses.field(default_factory=lambda: ["leaderboard", "mode_collapse", "stability"])
    source: str = ""

    def budget_for(self, dataset: str) -> Budget:
        budget = self.budgets.get(dataset) or self.budgets.get("default")
        if budget is None:
            raise UsageError(f"study {self.source}: no budget for dataset {dataset!r}; add budget.default "
                             f"or budget.{dataset}")
        return budget


def builtin_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("ganbench.studies").iterdir() if p.name.endswith(".toml"))


def load(name_or_path: str) -> Study:
    """A built-in study by name, or a TOML file by path. Errors name the key and the problem."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise UsageError(f"study file {name_or_path!r} does not exist")
        text, source = path.read_text(), str(path)
    elif name_or_path in builtin_names():
        text = resources.files("ganbench.studies").joinpath(f"{name_or_path}.toml").read_text()
        source = f"{name_or_path} (built-in)"
    else:
        raise UsageError(f"unknown study {name_or_path!r}; built-in: {', '.join(builtin_names())}, "
                         f"or a path to a .toml file")
    return parse(text, source)


def _fail(source: str, key: str, problem: str) -> UsageError:
    return UsageError(f"study {source}: {key}: {problem}")


def parse(text: str, source: str = "<string>") -> Study:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"study {source}: not valid TOML: {exc}") from None
    for section, value in raw.items():
        if section not in SCHEMA:
            raise _fail(source, section, f"unknown section; valid: {', '.join(SCHEMA)}")
        if not isinstance(value, dict):
            raise _fail(source, section, "must be a table ([section])")
        fields = SCHEMA[section]
        if not fields:
            continue
        for key, item in value.items():
            if key not in fields:
                raise _fail(source, f"{section}.{key}", f"unknown key; valid: {', '.join(fields)}")
            if not isinstance(item, fields[key]) or (fields[key] is int and isinstance(item, bool)):
                expected = fields[key].__name__ if isinstance(fields[key], type) else " or ".join(t.__name__ for t in fields[key])
                raise _fail(source, f"{section}.{key}", f"expected {expected}, got {type(item).__name__} {item!r}")
    meta, matrix, run = raw.get("study", {}), raw.get("matrix", {}), raw.get("run", {})
    if "name" not in meta:
        raise _fail(source, "study.name", "missing")
    if not matrix.get("datasets"):
        raise _fail(source, "matrix.datasets", "missing or empty: name at least one dataset")
    for key in ("archs", "losses", "techniques", "datasets", "metrics"):
        if any(not isinstance(x, str) for x in matrix.get(key, [])):
            raise _fail(source, f"matrix.{key}", "must be a list of strings")
    try:
        seeds = parse_seeds(",".join(map(str, matrix["seeds"])) if isinstance(matrix.get("seeds"), list)
                            else matrix.get("seeds", "0"))
    except UsageError as exc:
        raise _fail(source, "matrix.seeds", str(exc)) from None
    budgets = {}
    hparams, dataset_hparams = {}, {}
    for key, value in raw.get("budget", {}).items():
        try:
            budgets[key] = Budget.parse(value)
        except UsageError as exc:
            raise _fail(source, f"budget.{key}", str(exc)) from None
    for key, value in raw.get("hparams", {}).items():
        (dataset_hparams if isinstance(value, dict) else hparams)[key] = value
    if run.get("device", "auto") not in DEVICES:
        raise _fail(source, "run.device", f"{run['device']!r} is not one of {', '.join(DEVICES)}")
    if run.get("precision", "fp32") not in PRECISIONS:
        raise _fail(source, "run.precision", f"{run['precision']!r} is not one of {', '.join(PRECISIONS)}")
    techniques = [tuple(t for t in combo.split("+") if t and t != "none") for combo in matrix.get("techniques", ["none"])]
    return Study(name=meta["name"], description=meta.get("description", ""),
                 archs=matrix.get("archs", ["*"]), losses=matrix.get("losses", ["*"]),
                 techniques=techniques or [()], datasets=matrix["datasets"], seeds=seeds,
                 metrics=matrix.get("metrics", ["*"]), budgets=budgets, hparams=hparams,
                 dataset_hparams=dataset_hparams, run=run,
                 tables=meta.get("tables", ["leaderboard", "mode_collapse", "stability"]), source=source)
