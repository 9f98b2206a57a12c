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
* ``lock``          held (``flock``) by the process training the run, whose "pid hostname" it holds; the
                    kernel drops the lock if that process dies
* ``*.corrupt-<time>``, ``*.attempt-<time>``, ``*.rejected-<time>``: records set aside, never read again

``<results>/references/real-<dataset>-<split>-<hash12>/`` holds ``spec.json`` and ``result.json`` of
a real-data reference (held-out samples scored by the runs' metric code, see
:func:`ganbench.runner.execute_reference`).

JSON files are replaced with ``os.replace`` after a full write; JSONL files are only appended, and a
resumed run first drops the lines logged after its checkpoint.

Several processes (``ganbench run`` twice, Ray workers) may share one results directory: a run is only
trained by the process holding its lock (:meth:`RunDir.lock`), and only that process moves its files.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any, Iterable

try:
    import fcntl
except ImportError:  # not POSIX: runs are not locked, so one results directory takes one process
    fcntl = None

SCHEMA = 1
RESULT = "result.json"
SPEC = "spec.json"
CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
METRICS = "metrics.jsonl"
STATS = "stats.jsonl"
LOCK = "lock"
STATUSES = ("completed", "diverged", "failed")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # a failed write() names no file; the user needs to know which
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(Path(path), text.encode("utf-8"))


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


def truncate_jsonl(path: Path, keep_until_step: int, drop_split: str | None = None) -> None:
    """Drop lines logged after ``keep_until_step``, and those of ``drop_split`` (they will be logged
    again by the resumed run)."""
    kept = [r for r in read_jsonl(path) if r.get("step", 0) <= keep_until_step
            and (drop_split is None or r.get("split") != drop_split)]
    atomic_write_bytes(Path(path), "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept).encode())


RUNS = "runs"               # <results>/runs/<run>/: one directory per training run
REFERENCES = "references"   # <results>/references/<real-...>/: real data scored like a generator


class UnreadableRecord(Exception):
    """A stored record that cannot be read back; the message names its path and what is wrong."""


class RunLock:
    """An exclusive hold on one run directory; released on :meth:`release`, or by the kernel when the
    process dies (a killed run never leaves its directory locked)."""

    def __init__(self, fd: int | None):
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class RunDir:
    def __init__(self, results_dir: str | Path, dirname: str, folder: str = RUNS):
        self.path = Path(results_dir) / folder / dirname

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def finished(self) -> bool:
        return self.file(RESULT).exists()

    def result(self) -> dict | None:
        """The stored record; ``None`` while there is none. Raises :class:`UnreadableRecord` for a
        file that is not a JSON object with a known status (truncated, random bytes, empty, ``null``)."""
        path = self.file(RESULT)
        try:
            record = read_json(path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else ""
            raise UnreadableRecord(f"{path}: unreadable ({type(exc).__name__}: {detail})") from None
        if not isinstance(record, dict) or record.get("status") not in STATUSES:
            what = f"status {record.get('status')!r}" if isinstance(record, dict) else type(record).__name__
            raise UnreadableRecord(f"{path}: not a run record ({what})")
        return record

    def lock(self, wait: bool = True) -> RunLock | None:
        """Hold this run for this process (``flock`` on ``<run>/lock``). ``wait=False`` returns ``None``
        at once when another process holds it. The lock file is never deleted: unlinking a lock file
        lets a third process lock a new file while the second still holds the old one."""
        self.path.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            return RunLock(None)
        fd = os.open(self.file(LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        # Who holds it, for a person (or a test) looking at a run some worker of a cluster is training.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        return RunLock(fd)

    def set_aside(self, name: str, why: str) -> Path:
        """Rename ``name`` to ``<name>.<why>-<UTC time>``: kept for a person to inspect, never read again."""
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        target = self.file(f"{name}.{why}-{stamp}")
        os.replace(self.file(name), target)
        return target

    def remove_stale_temporaries(self) -> None:
        """Delete what killed atomic writes left behind; only the lock holder may call it, since
        another writer's temporary file looks the same."""
        for folder in (self.path, self.path / "samples"):
            if folder.is_dir():
                for tmp in folder.glob(".*.tmp"):
                    tmp.unlink(missing_ok=True)


def iter_run_dirs(results_dir: str | Path) -> Iterable[Path]:
    runs = Path(results_dir) / "runs"
    if runs.is_dir():
        yield from sorted(p for p in runs.iterdir() if p.is_dir() and (p / SPEC).exists())
