"""A run's full specification: everything that determines its result, and nothing else.

A :class:`RunSpec` is plain data (JSON round-trip), so any executor (in-process, Ray worker, DDP
launcher) can rebuild the run from it. Its content hash names the run's directory: the same
specification always lands in the same place, which is what makes sweeps resumable.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from typing import Any, Mapping

from ganbench.api import GENERATION
from ganbench.errors import UsageError

BUDGET_KINDS = ("steps", "kimg", "seconds", "flops")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16", "fp16")
# torch.compile modes (https://pytorch.org/docs/stable/generated/torch.compile.html); "reduce-overhead"
# replays CUDA graphs on a GPU, the lever for small, launch-bound nets, and is plain compilation on a CPU.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
CUDA_GRAPH_COMPILE_MODES = ("reduce-overhead", "max-autotune")
# Far past any real run, and below where step counts overflow int64 and ETAs overflow float.
MAX_BUDGET = {"steps": 1e15, "kimg": 1e15, "seconds": 1e15, "flops": 1e30}
MAX_THREADS = 1024           # torch.set_num_threads takes a C int; far beyond any core count is a typo
MAX_DDP = 64            # processes one --ddp run may use
MAX_SEEDS = 100_000          # seeds in one list: a range like 0-99999999999 would exhaust memory
MAX_SEED = 2 ** 32 - 1       # a seed names the run directory, which must stay a valid file name


@dataclasses.dataclass(frozen=True)
class Budget:
    """How much compute a run gets: training steps, thousands of real images shown to D, wall-clock
    seconds of training (evaluation excluded), or floating-point operations (converted to steps from
    the measured cost of one real training step)."""

    kind: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Budget:
        """``steps=2000``, ``kimg=50``, ``kimg=5e-1``, ``seconds=60``, ``flops=1e12`` (a bare number means steps)."""
        match = re.fullmatch(r"\s*(?:(\w+)\s*=\s*)?([0-9.eE+-]+)\s*", str(text))
        kind = (match.group(1) or "steps") if match else None
        try:
            value = float(match.group(2)) if match else -1.0
        except ValueError:
            value = -1.0
        # float() reads 1e400 as inf: an endless budget would be stored as a run that can never finish
        if kind not in BUDGET_KINDS or not (value > 0 and math.isfinite(value)):
            raise UsageError(f"invalid budget {text!r}; expected KIND=VALUE with KIND in "
                             f"{', '.join(BUDGET_KINDS)} and VALUE a finite number > 0, e.g. kimg=50 or flops=2e12")
        if value > MAX_BUDGET[kind]:
            raise UsageError(f"invalid budget {text!r}: {kind} must be at most {MAX_BUDGET[kind]:g}")
        if kind == "steps" and value != int(value):
            raise UsageError(f"invalid budget {text!r}: steps must be a whole number")
        return cls(kind, int(value) if kind == "steps" else value)

    def __str__(self) -> str:
        return f"{self.kind}={self.value:g}"


@dataclasses.dataclass(frozen=True)
class RunSpec:
    arch: str
    loss: str
    dataset: str
    seed: int
    budget: Budget
    techniques: tuple[str, ...] = ()
    hparams: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # user overrides only
    metrics: tuple[str, ...] = ()
    eval_every: int = 0          # steps between val-split evaluations; 0 = `evaluations` spread over the run
    evaluations: int = 4         # val-split evaluations per run when eval_every is 0
    checkpoint_every: int = 0    # steps between checkpoints; 0 = at each evaluation
    device: str = "cpu"
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    compile_mode: str = "default"  # torch.compile's mode when compile (COMPILE_MODES)
    threads: int = 1
    ddp: int = 1                 # processes training this one run with DistributedDataParallel (--ddp)
    task: str = GENERATION       # the benchmark task (api.Task) the run belongs to
    study: str = ""
    # {distribution: version} of the distributions providing the run's plugins (set by the sweep):
    # a plugin's new release is a new run, never a stored result of the old code.
    plugin_versions: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def variant(self) -> str:
        return "-".join([self.arch, self.loss]) + "".join(f"+{t}" for t in self.techniques)

    @property
    def name(self) -> str:
        return f"{self.variant}-{self.dataset}-s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["budget"] = {"kind": self.budget.kind, "value": self.budget.value}
        d["techniques"] = list(self.techniques)
        d["metrics"] = list(self.metrics)
        d["hparams"] = dict(sorted(self.hparams.items()))
        d["plugin_versions"] = dict(sorted(self.plugin_versions.items()))
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunSpec:
        d = dict(d)
        d["budget"] = Budget(**d["budget"])
        d["techniques"] = tuple(d.get("techniques", ()))
        d["metrics"] = tuple(d.get("metrics", ()))
        return cls(**d)

    def content_hash(self) -> str:
        """12 hex digits of sha256 over the canonical JSON. ``study`` is a label, not part of the result,
        so the same run requested by two studies is stored and trained once."""
        d = self.to_dict()
        d.pop("study")
        if not d["plugin_versions"]:
            d.pop("plugin_versions")  # specs written before versions were recorded keep their names
        if d["ddp"] == 1:
            d.pop("ddp")              # a one-process run keeps the name it had before DDP existed
        if d["task"] == GENERATION:
            d.pop("task")             # and a generation run the name it had before tasks existed
        if d["compile_mode"] == "default":
            d.pop("compile_mode")     # and a run compiled or not the name it had before modes existed
        canonical = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @property
    def dirname(self) -> str:
        return f"{self.name}-{self.content_hash()}"


@dataclasses.dataclass(frozen=True)
class ReferenceSpec:
    """Real data scored as if it were a generator: the floor (or ceiling) every table row is read
    against. Held-out samples of ``source_split`` go through the same metric code, at the same N and
    against the same reference split as the runs of ``dataset`` that measure ``metrics``.

    With ``baseline`` (a task's name), the row is that task's baseline instead (``api.Task.baseline``:
    bicubic upsampling for super-resolution), applied to the inputs of the test split's pairs and
    scored as the runs' final generators are."""

    dataset: str
    metrics: tuple[str, ...]
    source_split: str = "val"
    seed: int = 0
    device: str = "cpu"
    threads: int = 1
    baseline: str = ""

    LABEL = "real data (held-out split)"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["metrics"] = list(self.metrics)
        if not d["baseline"]:
            d.pop("baseline")   # real-data references keep the names they had before baselines existed
        return d

    def content_hash(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @property
    def dirname(self) -> str:
        if self.baseline:
            return f"baseline-{self.baseline}-{self.dataset}-{self.content_hash()}"
        return f"real-{self.dataset}-{self.source_split}-{self.content_hash()}"


def parse_seeds(text: str) -> tuple[int, ...]:
    """``0,1,2`` or ``0-4`` or ``5`` (a single seed)."""
    seeds: list[int] = []
    expected = (f"expected non-negative integers (at most {MAX_SEED}) like 0,1,2 or a range 0-4, "
                f"{MAX_SEEDS} seeds at most")
    try:
        for part in str(text).split(","):
            part = part.strip()
            if "-" in part[1:]:
                lo, hi = (int(x) for x in part.split("-", 1))
                if lo > hi or hi - lo >= MAX_SEEDS:
                    raise UsageError(f"invalid seeds {text!r}: range {part} is empty or longer than {MAX_SEEDS}; {expected}")
                seeds.extend(range(lo, hi + 1))
            elif part:
                seeds.append(int(part))
            if len(seeds) > MAX_SEEDS:
                break
    except ValueError:
        seeds = []
    if not seeds or len(seeds) > MAX_SEEDS or any(not 0 <= s <= MAX_SEED for s in seeds):
        raise UsageError(f"invalid seeds {text!r}; {expected}")
    return tuple(dict.fromkeys(seeds))


def parse_hparam(text: str) -> tuple[str, Any]:
    """``lr_g=1e-4`` -> ("lr_g", 0.0001); values are parsed as JSON when they parse, else kept as text."""
    key, sep, raw = str(text).partition("=")
    if not sep or not re.fullmatch(r"[a-z][a-z0-9_]*", key.strip()):
        raise UsageError(f"invalid hyperparameter {text!r}; expected NAME=VALUE, e.g. lr_g=1e-4")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value
