"""Studies: a TOML file naming a matrix of runs.

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

**Several matrices.** Instead of the one ``[matrix]`` table a study may give an array of them,
``[[matrix]]``, each with the same keys as ``[matrix]`` (its own archs, losses, techniques, datasets,
seeds and metrics; ``datasets`` required in each). :func:`ganbench.sweep.expand` expands each one and
concatenates, so a study can ask for a few targeted slices instead of one huge cross-product::

    [[matrix]]                           # the MLP on the 2D mixtures, three techniques
    archs = ["mlp"]
    losses = ["nonsaturating"]
    techniques = ["none", "unrolled", "pacgan"]
    datasets = ["ring8", "grid25"]
    seeds = [0, 1, 2]
    metrics = ["mode_coverage"]

    [[matrix]]                           # DCGAN on MNIST-5k, every loss
    archs = ["dcgan"]
    losses = ["*"]
    datasets = ["mnist5k"]
    seeds = [0, 1, 2]
    metrics = ["lenet_fidelity"]

Budgets and hyperparameters are per study (``[budget]``, ``[hparams]``: per dataset), shared by every
matrix, unless a matrix gives its own: ``budget = "kimg=64"`` replaces the study's budget for the
matrix's runs, and ``hparams = {...}`` is applied over the study's (a comparison at equal images shown,
say, where the study's budget is in steps). Run settings (``[run]``) are per study.
Setting ``study.seeds``, ``study.techniques``, ... on a loaded study (what ``ganbench run --study S
--seeds 0-4`` does) sets it in every matrix; read back, those attributes are the union over matrices.

**Claims.** ``[[claim]]`` entries declare published findings that the study's runs test (the
``reproduce`` study; the report turns them into a "claim | paper | ganbench | holds?" table, see
:mod:`ganbench.report.reproduce` for the verdict rules)::

    [[claim]]
    id = "unrolled-ring8"                # unique in the study, [a-z0-9._-]
    claim = "Unrolling D covers more modes of the ring than a plain GAN."
    source = "Srivastava et al. 2017 (VEEGAN), Table 1"
    paper = "GAN 1 vs Unrolled GAN 7.6 modes"
    dataset = "ring8"                    # one of the matrices' datasets
    metric = "modes"                     # a result metric name (modes, recall_lenet, fid_lenet, ...)
    test = "greater"                     # greater | less | within_spread_of_best
    variant = "mlp-nonsaturating+unrolled"
    than = "mlp-nonsaturating"           # greater/less: the baseline variant
    # among = "dcgan-*"                  # within_spread_of_best: a glob, or a list of variants/globs

Every explicitly named variant must be one that some matrix produces on the claim's dataset.

**The study record.** :func:`record` is the study as JSON (name, description, budgets as strings,
hyperparameters per dataset, claims); ``ganbench run`` writes it with :func:`write_record` to
``<results>/studies/<name>.json`` so that ``ganbench report``, which reads nothing but the results
directory, can build the claim tables.

Built-in studies live in ``ganbench/studies/<name>.toml``; ``ganbench run --study NAME|FILE``.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, before it joined the standard library
    import tomli as tomllib

from ganbench.api import GENERATION
from ganbench.errors import UsageError
from ganbench.spec import COMPILE_MODES, DEVICES, MAX_DDP, MAX_THREADS, PRECISIONS, Budget, parse_seeds

SCHEMA: dict[str, dict[str, type | tuple]] = {
    "study": {"name": str, "description": str},
    "matrix": {"archs": list, "losses": list, "techniques": list, "datasets": list, "seeds": (list, str),
               "metrics": list, "task": str, "budget": str, "hparams": dict},
    "budget": {},     # free keys: "default" or a dataset name -> budget string
    "hparams": {},    # free keys
    "run": {"eval_every": int, "evaluations": int, "checkpoint_every": int, "device": str, "precision": str,
            "channels_last": bool, "compile": bool, "compile_mode": str, "threads": int, "jobs": int,
            "cpus_per_run": (int, float), "gpus_per_run": (int, float), "ddp": int},
    "claim": {"id": str, "claim": str, "source": str, "paper": str, "dataset": str, "metric": str, "test": str,
              "variant": str, "than": str, "among": (list, str)},
}
# [run] whole numbers: (smallest, largest or None); RunSpec's comments say what each means
RUN_RANGES = {"eval_every": (0, None), "evaluations": (1, None), "checkpoint_every": (0, None),
              "threads": (1, MAX_THREADS), "jobs": (1, None), "ddp": (1, MAX_DDP)}
# [run] keys that say how a sweep runs (workers, Ray resources), not what a run is: never in a RunSpec
SWEEP_SETTINGS = ("jobs", "cpus_per_run", "gpus_per_run")
ARRAY_SECTIONS = ("matrix", "claim")   # may be given as an array of tables, [[section]]
MATRIX_FIELDS = ("archs", "losses", "techniques", "datasets", "seeds", "metrics", "task")

CLAIM_TESTS = ("greater", "less", "within_spread_of_best")
CLAIM_REQUIRED = ("id", "claim", "source", "paper", "dataset", "metric", "test", "variant")
CLAIM_ID = re.compile(r"[a-z0-9][a-z0-9._-]*")
RECORD_SCHEMA = 1


@dataclasses.dataclass
class Matrix:
    """One cross-product of runs: every dataset x arch x loss x technique combination x seed."""
    archs: list[str] = dataclasses.field(default_factory=lambda: ["*"])
    losses: list[str] = dataclasses.field(default_factory=lambda: ["*"])
    techniques: list[tuple[str, ...]] = dataclasses.field(default_factory=lambda: [()])
    datasets: list[str] = dataclasses.field(default_factory=list)
    seeds: tuple[int, ...] = (0,)
    metrics: list[str] = dataclasses.field(default_factory=lambda: ["*"])
    task: str = GENERATION   # the benchmark task of every run of the matrix (api.Task)
    budget: Budget | None = None   # None: the study's budget for each dataset
    hparams: dict[str, Any] = dataclasses.field(default_factory=dict)   # over the study's
    label: str = dataclasses.field(default="matrix", compare=False)     # matrix[i], for messages

    def produces(self, variant: str, dataset: str) -> bool:
        """Whether this matrix asks for ``variant`` (``arch-loss[+technique...]``) on ``dataset``
        (wildcards accept any name; compatibility with the plugins is not checked here)."""
        arch, _, rest = variant.partition("-")
        loss, *techniques = rest.split("+")
        combo = tuple(techniques)
        return ((dataset in self.datasets or "*" in self.datasets)
                and (arch in self.archs or "*" in self.archs)
                and (loss in self.losses or "*" in self.losses)
                and (combo in self.techniques or (("*",) in self.techniques and len(combo) <= 1)))


@dataclasses.dataclass
class Claim:
    """A published finding the study tests; see :mod:`ganbench.report.reproduce` for the verdicts."""
    id: str
    claim: str
    source: str
    paper: str
    dataset: str
    metric: str
    test: str
    variant: str
    than: str = ""
    among: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if self.test == "within_spread_of_best":
            d.pop("than")
        else:
            d.pop("among")
        return d


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
    task: str = GENERATION
    budgets: dict[str, Budget] = dataclasses.field(default_factory=dict)
    hparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    dataset_hparams: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    run: dict[str, Any] = dataclasses.field(default_factory=dict)
    source: str = ""
    # from [[matrix]]: the matrices, each expanded on its own. Empty: the one matrix given by the fields
    # archs ... metrics above (a single [matrix] table, or the command line).
    matrices: list[Matrix] = dataclasses.field(default_factory=list)
    claims: list[Claim] = dataclasses.field(default_factory=list)

    def __setattr__(self, key: str, value: Any) -> None:
        # `ganbench run --study S --seeds 0-4` sets study.seeds: that must reach every matrix
        super().__setattr__(key, value)
        if key in MATRIX_FIELDS and self.__dict__.get("matrices"):
            for matrix in self.matrices:
                setattr(matrix, key, value)

    def matrix_list(self) -> list[Matrix]:
        """The matrices to expand, in order."""
        if self.matrices:
            return list(self.matrices)
        return [Matrix(**{f: getattr(self, f) for f in MATRIX_FIELDS})]

    def budget_for(self, dataset: str) -> Budget:
        budget = self.budgets.get(dataset) or self.budgets.get("default")
        if budget is None:
            raise UsageError(f"study {self.source}: no budget for dataset {dataset!r}; add budget.default "
                             f"or budget.{dataset}")
        return budget

    def budget_of(self, matrix: Matrix, dataset: str) -> Budget:
        """The budget of ``matrix``'s runs on ``dataset``: the matrix's own, else the study's."""
        return matrix.budget or self.budget_for(dataset)

    def hparams_of(self, matrix: Matrix, dataset: str) -> dict[str, Any]:
        """The hyperparameter overrides of ``matrix``'s runs on ``dataset`` (before the command line's)."""
        return {**self.hparams, **self.dataset_hparams.get(dataset, {}), **matrix.hparams}

    def claim_setting(self, claim: Claim) -> tuple[Budget, dict[str, Any]]:
        """The budget and hyperparameters a claim is judged at: those of the matrices that run its
        named variants on its dataset (they must agree: a claim never compares runs trained under
        different budgets or hyperparameters)."""
        named = [claim.variant] + ([claim.than] if claim.than else []) + [a for a in claim.among if not _is_glob(a)]
        settings: dict[str, tuple[Budget, dict[str, Any]]] = {}
        labels = []
        for matrix in self.matrix_list():
            if any(matrix.produces(v, claim.dataset) for v in named):
                budget, hparams = self.budget_of(matrix, claim.dataset), self.hparams_of(matrix, claim.dataset)
                settings.setdefault(f"{_budget_text(budget)} {sorted(hparams.items())!r}", (budget, hparams))
                labels.append(matrix.label)
        if len(settings) > 1:
            shown = "; ".join(f"{_budget_text(b)}, hparams {h}" for b, h in settings.values())
            raise UsageError(f"study {self.source}: claim {claim.id!r}: its variants run under different budgets "
                             f"or hyperparameters in {', '.join(labels)} ({shown}); give them one matrix")
        return next(iter(settings.values()))


def builtin_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("ganbench.studies").iterdir() if p.name.endswith(".toml"))


def load(name_or_path: str) -> Study:
    """A built-in study by name, or a TOML file by path. Errors name the key and the problem."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if path.is_dir():
            raise UsageError(f"study {name_or_path!r} is a directory; give a study .toml file or a built-in "
                             f"name ({', '.join(builtin_names())})")
        if not path.is_file():
            raise UsageError(f"study file {name_or_path!r} does not exist")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"study file {name_or_path!r}: cannot read it ({exc.strerror})") from None
        text, source = _decode(data, str(path)), str(path)
    elif name_or_path in builtin_names():
        text = resources.files("ganbench.studies").joinpath(f"{name_or_path}.toml").read_text()
        source = f"{name_or_path} (built-in)"
    else:
        raise UsageError(f"unknown study {name_or_path!r}; built-in: {', '.join(builtin_names())}, "
                         f"or a path to a .toml file")
    return parse(text, source)


def _decode(data: bytes, source: str) -> str:
    """UTF-8 text, with or without the byte-order mark some editors write."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UsageError(f"study {source}: not UTF-8 text (UTF-16, by its byte-order mark); save it as UTF-8")
    if b"\0" in data:
        raise UsageError(f"study {source}: a binary file (it contains NUL bytes), not a TOML study")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"study {source}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                         f"save it as UTF-8") from None


def _fail(source: str, key: str, problem: str) -> UsageError:
    return UsageError(f"study {source}: {key}: {problem}")


def _check_table(source: str, label: str, value: Any, fields: dict[str, type | tuple]) -> None:
    if not isinstance(value, dict):
        raise _fail(source, label, "must be a table")
    if not fields:
        return
    for key, item in value.items():
        if key not in fields:
            raise _fail(source, f"{label}.{key}", f"unknown key; valid: {', '.join(fields)}")
        if not isinstance(item, fields[key]) or (fields[key] is int and isinstance(item, bool)):
            expected = fields[key].__name__ if isinstance(fields[key], type) else " or ".join(t.__name__ for t in fields[key])
            raise _fail(source, f"{label}.{key}", f"expected {expected}, got {type(item).__name__} {item!r}")


def _parse_matrix(source: str, label: str, matrix: dict[str, Any]) -> Matrix:
    if not matrix.get("datasets"):
        raise _fail(source, f"{label}.datasets", "missing or empty: name at least one dataset")
    for key in ("archs", "losses", "techniques", "datasets", "metrics"):
        if any(not isinstance(x, str) for x in matrix.get(key, [])):
            raise _fail(source, f"{label}.{key}", "must be a list of strings")
    if "metrics" in matrix and not matrix["metrics"]:
        raise _fail(source, f"{label}.metrics", 'empty: its runs would measure nothing; name metrics, "*" for '
                                                "every metric that applies, or leave the key out")
    try:
        seeds = parse_seeds(",".join(map(str, matrix["seeds"])) if isinstance(matrix.get("seeds"), list)
                            else matrix.get("seeds", "0"))
    except UsageError as exc:
        raise _fail(source, f"{label}.seeds", str(exc)) from None
    techniques = [tuple(t for t in combo.split("+") if t and t != "none") for combo in matrix.get("techniques", ["none"])]
    budget = None
    if "budget" in matrix:
        try:
            budget = Budget.parse(matrix["budget"])
        except UsageError as exc:
            raise _fail(source, f"{label}.budget", str(exc)) from None
    if any(isinstance(v, dict) for v in matrix.get("hparams", {}).values()):
        raise _fail(source, f"{label}.hparams", "give name = value pairs (a matrix's hyperparameters apply to "
                                                "all its datasets; per dataset, use [hparams.<dataset>])")
    return Matrix(archs=matrix.get("archs", ["*"]), losses=matrix.get("losses", ["*"]),
                  techniques=techniques or [()], datasets=matrix["datasets"], seeds=seeds,
                  metrics=matrix.get("metrics", ["*"]), task=matrix.get("task", GENERATION),
                  budget=budget, hparams=dict(matrix.get("hparams", {})), label=label)


def _union(lists) -> list:
    return list(dict.fromkeys(x for xs in lists for x in xs))


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def _parse_claim(source: str, label: str, raw: dict[str, Any], matrices: list[Matrix], seen: set[str]) -> Claim:
    for key in CLAIM_REQUIRED:
        if key not in raw:
            raise _fail(source, f"{label}.{key}", f"missing; a claim needs {', '.join(CLAIM_REQUIRED)} "
                                                  f"and than (greater, less) or among (within_spread_of_best)")
        if not raw[key].strip():
            raise _fail(source, f"{label}.{key}", "empty")
    cid = raw["id"]
    if not CLAIM_ID.fullmatch(cid):
        raise _fail(source, f"{label}.id", f"{cid!r} must match {CLAIM_ID.pattern} (it names files)")
    if cid in seen:
        raise _fail(source, f"{label}.id", f"{cid!r} is given twice; claim ids must be unique in a study")
    seen.add(cid)
    test = raw["test"]
    if test not in CLAIM_TESTS:
        raise _fail(source, f"{label}.test", f"{test!r} is not one of {', '.join(CLAIM_TESTS)}")
    among = raw.get("among", [])
    among = [among] if isinstance(among, str) else among
    if any(not isinstance(x, str) or not x for x in among):
        raise _fail(source, f"{label}.among", "must be a variant glob or a list of variant names/globs")
    if test == "within_spread_of_best":
        if "than" in raw:
            raise _fail(source, f"{label}.than", "not used by test within_spread_of_best (give among)")
        if not among:
            raise _fail(source, f"{label}.among", "missing or empty: within_spread_of_best compares with the best "
                                                  "of these variants (a glob like \"dcgan-*\" or a list)")
    else:
        if "among" in raw:
            raise _fail(source, f"{label}.among", f"not used by test {test} (give than)")
        if not raw.get("than", "").strip():
            raise _fail(source, f"{label}.than", f"missing: test {test} compares variant with a baseline variant")
    dataset = raw["dataset"]
    datasets = _union(m.datasets for m in matrices)
    if dataset not in datasets and "*" not in datasets:
        raise _fail(source, f"{label}.dataset", f"{dataset!r} is not in any matrix (datasets: {', '.join(datasets)})")
    named = [("variant", raw["variant"])] + ([("than", raw["than"])] if "than" in raw else []) \
        + [("among", a) for a in among if not _is_glob(a)]
    for key, variant in named:
        if not any(m.produces(variant, dataset) for m in matrices):
            raise _fail(source, f"{label}.{key}", f"no matrix runs variant {variant!r} on {dataset} (a variant "
                                                  f"is arch-loss[+technique...], e.g. mlp-nonsaturating+unrolled)")
    return Claim(id=cid, claim=raw["claim"], source=raw["source"], paper=raw["paper"], dataset=dataset,
                 metric=raw["metric"], test=test, variant=raw["variant"], than=raw.get("than", ""), among=list(among))


def parse(text: str, source: str = "<string>") -> Study:
    try:
        raw = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"study {source}: not valid TOML: {exc}") from None
    for section, value in raw.items():
        if section not in SCHEMA:
            raise _fail(source, section, f"unknown section; valid: {', '.join(SCHEMA)}")
        if section in ARRAY_SECTIONS and isinstance(value, list):
            if not value:
                raise _fail(source, section, f"empty array: give at least one [[{section}]] table")
            for i, item in enumerate(value, 1):
                label = f"{section}[{i}]"
                if section == "claim" and isinstance(item, dict) and isinstance(item.get("id"), str):
                    label = f"claim {item['id']!r}"
                _check_table(source, label, item, SCHEMA[section])
            continue
        if not isinstance(value, dict):
            raise _fail(source, section, "must be a table ([section])")
        _check_table(source, section, value, SCHEMA[section])
    meta, run = raw.get("study", {}), raw.get("run", {})
    if "name" not in meta:
        raise _fail(source, "study.name", "missing")
    if not meta["name"].strip() or not meta["name"].isprintable():
        raise _fail(source, "study.name", f"{meta['name']!r}: give one line of printable text (it labels the "
                                          f"runs and names the study record)")
    for key, (low, high) in RUN_RANGES.items():
        if key in run and not (run[key] >= low and (high is None or run[key] <= high)):
            bounds = f">= {low}" + (f" and <= {high}" if high is not None else "")
            raise _fail(source, f"run.{key}", f"{run[key]} is out of range: a whole number {bounds}")
    for key, smallest_ok in (("cpus_per_run", lambda v: v > 0), ("gpus_per_run", lambda v: v >= 0)):
        if key in run and not smallest_ok(run[key]):
            bound = "> 0" if key == "cpus_per_run" else ">= 0 (0.25 shares a GPU by four)"
            raise _fail(source, f"run.{key}", f"{run[key]} is out of range: Ray resources of one run, a number {bound}")
    tables = raw.get("matrix", {})
    if isinstance(tables, dict):   # [matrix]: one table, the single matrix
        matrices = [_parse_matrix(source, "matrix", tables)]
    else:                          # [[matrix]]: an array of them, labelled matrix[1], matrix[2], ...
        matrices = [_parse_matrix(source, f"matrix[{i}]", m) for i, m in enumerate(tables, 1)]
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
    if run.get("compile_mode", "default") not in COMPILE_MODES:
        raise _fail(source, "run.compile_mode", f"{run['compile_mode']!r} is not one of {', '.join(COMPILE_MODES)}")
    if run.get("compile_mode", "default") != "default" and not run.get("compile", False):
        raise _fail(source, "run.compile_mode", "is a mode of torch.compile: set run.compile = true with it")
    raw_claims = raw.get("claim", [])
    raw_claims = [raw_claims] if isinstance(raw_claims, dict) else raw_claims
    seen: set[str] = set()
    claims = [_parse_claim(source, f"claim {c['id']!r}" if "id" in c else f"claim[{i}]", c, matrices, seen)
              for i, c in enumerate(raw_claims, 1)]
    # the study-level fields: the single matrix, or (several) the union over them, for reading only
    fields = {f: (getattr(matrices[0], f) if len(matrices) == 1
                  else tuple(_union(getattr(m, f) for m in matrices)) if f == "seeds"
                  else ",".join(_union([m.task] for m in matrices)) if f == "task"
                  else _union(getattr(m, f) for m in matrices)) for f in MATRIX_FIELDS}
    study = Study(name=meta["name"], description=meta.get("description", ""), **fields, budgets=budgets,
                  hparams=hparams, dataset_hparams=dataset_hparams, run=run,
                  source=source,
                  # one matrix is the study's own fields, unless it carries a budget or hparams of its own
                  matrices=matrices if len(matrices) > 1 or matrices[0].budget or matrices[0].hparams else [],
                  claims=claims)
    for claim in claims:
        study.claim_setting(claim)  # a claim is judged at one budget: there must be one, and only one
    return study


# ---------------------------------------------------------------------------------------------------
# The study record: what `ganbench report` needs to know about a study, stored with the results

def _budget_text(budget: Budget) -> str:
    """``kind=value`` that :meth:`Budget.parse` reads back to the same budget (``str(budget)`` rounds
    to 6 significant digits)."""
    short = f"{budget.kind}={budget.value:g}"
    return short if Budget.parse(short) == budget else f"{budget.kind}={budget.value!r}"


def record(study: Study, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The study as JSON-ready data: ``{"schema", "name", "description", "budgets", "hparams", "claims"}``.

    ``budgets`` maps "default" or a dataset to a budget string (``steps=3000``); ``hparams`` maps each
    dataset the study names to the hyperparameter overrides its runs get; ``claims`` is the list of
    ``[[claim]]`` tables (``than`` for greater/less, ``among`` as a list for within_spread_of_best),
    each with the ``budget`` and ``hparams`` it is judged at (:meth:`Study.claim_setting`).

    :param overrides: the ``overrides`` given to :func:`ganbench.sweep.expand` (command-line
        ``budget`` and ``hparams``), so the record says what was run rather than what the file says.
    """
    overrides = overrides or {}
    budgets = dict(study.budgets)
    if overrides.get("budget") is not None:   # --budget replaces every dataset's budget (sweep.expand)
        budgets = {"default": overrides["budget"]}
    datasets = [d for d in _union([m.datasets for m in study.matrix_list()] + [[c.dataset for c in study.claims]])
                if d != "*"]
    cli_hparams = overrides.get("hparams") or {}
    hparams = {d: {**study.hparams, **study.dataset_hparams.get(d, {}), **cli_hparams} for d in datasets}
    claims = []
    for claim in study.claims:
        budget, claim_hparams = study.claim_setting(claim)
        claims.append({**claim.to_dict(), "budget": _budget_text(overrides.get("budget") or budget),
                       "hparams": {**claim_hparams, **cli_hparams}})
    return {"schema": RECORD_SCHEMA, "name": study.name, "description": study.description,
            "budgets": {k: _budget_text(b) for k, b in sorted(budgets.items())},
            "hparams": hparams, "claims": claims}


def record_path(results_dir: str | Path, name: str) -> Path:
    return Path(results_dir) / "studies" / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', name) or '_'}.json"


def write_record(study: Study, results_dir: str | Path, overrides: dict[str, Any] | None = None) -> Path:
    """Write :func:`record` atomically to ``<results_dir>/studies/<name>.json`` and return the path.

    ``ganbench run`` calls it once per invocation, before the runs start, with the same ``overrides``
    it gives :func:`ganbench.sweep.expand`. The last invocation of a study wins: its budgets are the
    ones the report judges the claims at.
    """
    from ganbench.store import atomic_write_json

    path = record_path(results_dir, study.name)
    atomic_write_json(path, record(study, overrides))
    return path
