"""The results store: one directory per run, written so that a crash never leaves a lie behind.

Layout of ``<results>/runs/<name>-<hash12>/`` (see ARCHITECTURE.md for every field):

* ``spec.json``     the specification, versions and hardware; written first
* ``stats.jsonl``   training losses and speed, a line every few steps
* ``metrics.jsonl`` one line per metric per evaluation
* ``checkpoint.pt`` models, optimisers, every random stream; replaced atomically
* ``best.pt``       generator weights at the best held-out evaluation
* ``samples.npz``   the generated samples the final metrics were computed on
* ``samples/*.png`` sample grids
* ``result.json``   written last: its presence means the run is over (completed, diverged or failed)
* ``error.txt``     the traceback of a failed run

``<results>/references/real-<dataset>-<split>-<hash12>/`` holds ``spec.json`` and ``result.json`` of
a real-data reference (held-out samples scored by the runs' metric code, see
:func:`ganbench.runner.execute_reference`).

JSON files are replaced with ``os.replace`` after a full write; JSONL files are only appended, and a
resumed run first drops the lines logged after its checkpoint.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

SCHEMA = 1
RESULT = "result.json"
SPEC = "spec.json"
CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
METRICS = "metrics.jsonl"
STATS = "stats.jsonl"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n").encode())


def atomic_torch_save(path: Path, obj: Any) -> None:
    import io

    import torch
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def torch_load(path: Path) -> Any:
    """Load a checkpoint without unpickling arbitrary objects."""
    import torch
    return torch.load(path, map_location="cpu", weights_only=True)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    """Every complete line; a torn last line (killed mid-write) is ignored."""
    if not Path(path).exists():
        return []
    out = []
    for line in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def truncate_jsonl(path: Path, keep_until_step: int) -> None:
    """Drop lines logged after ``keep_until_step`` (they will be logged again by the resumed run)."""
    kept = [r for r in read_jsonl(path) if r.get("step", 0) <= keep_until_step]
    atomic_write_bytes(Path(path), "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept).encode())


RUNS = "runs"               # <results>/runs/<run>/: one directory per training run
REFERENCES = "references"   # <results>/references/<real-...>/: real data scored like a generator


class RunDir:
    def __init__(self, results_dir: str | Path, dirname: str, folder: str = RUNS):
        self.path = Path(results_dir) / folder / dirname

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def finished(self) -> bool:
        return self.file(RESULT).exists()

    def result(self) -> dict | None:
        return read_json(self.file(RESULT)) if self.finished else None


def iter_run_dirs(results_dir: str | Path) -> Iterable[Path]:
    runs = Path(results_dir) / "runs"
    if runs.is_dir():
        yield from sorted(p for p in runs.iterdir() if p.is_dir() and (p / SPEC).exists())
