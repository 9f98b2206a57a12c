"""One progress bar for a whole sweep, with an ETA from its first second.

The ETA is only as good as its unit of work. A step of the ring MLP and a step of DCGAN on MNIST
differ by 10x in time, so the bar counts *estimated seconds of training*: each run's budget in steps
times the time of one step of its configuration, measured once before the sweep
(:func:`ganbench.runner.estimate_seconds`, cached on disk with the step's FLOPs). The rate the ETA
divides by starts at ``jobs`` estimated seconds per second and moves to the observed rate as work is
done (over the first minute), so evaluation time, contention and vectorised seeds correct it.

Runs report progress through the same small interface whether they train in this process or in a
worker (where updates travel over a queue): ``progress(total=steps, initial=done, desc=name,
runs=[dirname, ...])`` returns an object with ``update(n)``, ``set_postfix(dict)`` and ``close()``.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from typing import Any, Callable

# Over the first this-many seconds the ETA moves from the start-up estimate of the rate to the observed
# one, which alone counts afterwards.
PRIOR_SECONDS = 60.0
# Updates from a run are sent at most this often (each is a message to the parent process).
SEND_INTERVAL = 0.5


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class SweepProgress:
    """The sweep's bar: runs done / running / failed, and the ETA. ``estimates`` maps each run's
    dirname to its estimated seconds of training (``None`` when unknown: counted as the mean)."""

    def __init__(self, estimates: dict[str, float | None], jobs: int = 1, enabled: bool = True,
                 inner_bars: bool = False, clock: Callable[[], float] = time.monotonic):
        known = [e for e in estimates.values() if e]  # finished runs count 0, unknown ones the mean
        fallback = sum(known) / len(known) if known else 1.0
        self.estimates = {k: fallback if e is None else float(e) for k, e in estimates.items()}
        self.total = sum(self.estimates.values()) or 1.0
        self.jobs = max(1, int(jobs))
        self.clock = clock
        self.start = clock()
        self.fraction: dict[str, float] = {}   # dirname -> fraction of its steps done
        self.running: set[str] = set()
        self.finished: dict[str, str] = {}     # dirname -> status
        self.inner_bars = inner_bars
        self._lock = threading.Lock()
        self._bar = None
        self._shown = -math.inf
        self._interval = 0.5
        if enabled:
            from tqdm import tqdm
            tty = sys.stderr.isatty()
            self._interval = 0.5 if tty else 30.0
            self._bar = tqdm(total=len(self.estimates), file=sys.stderr, leave=True, position=0,
                             dynamic_ncols=True, mininterval=0.5 if tty else 30.0,
                             bar_format="sweep {n_fmt}/{total_fmt} runs |{bar}| {desc}")
            self._refresh()

    # -- what the ETA is ------------------------------------------------------------------------
    def initial_seconds(self) -> float:
        """The ETA before any work: every estimate, ``jobs`` at a time."""
        return self.total / self.jobs

    def done_seconds(self) -> float:
        return sum(self.estimates.get(k, 0.0) * f for k, f in self.fraction.items())

    def remaining_seconds(self) -> float:
        elapsed = self.clock() - self.start
        done = self.done_seconds()
        trust = min(1.0, elapsed / PRIOR_SECONDS)
        # Nothing measurable done yet (runs too short to estimate, or none started): keep the prior.
        rate = trust * (done / elapsed) + (1.0 - trust) * self.jobs if done > 0 and elapsed > 0 else self.jobs
        return max(0.0, self.total - done) / max(rate, 1e-9)

    # -- events -----------------------------------------------------------------------------------
    def report(self, runs: list[str], fraction: float) -> None:
        """``runs`` (one run, or the seeds of one vectorised group) are ``fraction`` of the way through."""
        with self._lock:
            for run in runs:
                if run in self.finished:
                    continue
                self.running.add(run)
                self.fraction[run] = min(1.0, max(self.fraction.get(run, 0.0), float(fraction)))
            self._refresh()

    def run_finished(self, run: str, status: str) -> None:
        with self._lock:
            self.running.discard(run)
            self.finished[run] = status
            self.fraction[run] = 1.0
            if self._bar is not None:
                self._bar.update(1)
            self._refresh(force=True)

    def receive(self, message: tuple) -> None:
        """One message from a worker's :class:`QueueProgress`."""
        kind, runs, fraction = message
        if kind == "progress":
            self.report(list(runs), fraction)

    def close(self) -> None:
        if self._bar is not None:
            self._refresh(force=True)
            self._bar.close()

    def _refresh(self, force: bool = False) -> None:
        if self._bar is None:
            return
        now = self.clock()
        if not force and now - self._shown < self._interval:
            return  # a log file gets a line every 30 s, a terminal twice a second
        self._shown = now
        failed = sum(1 for s in self.finished.values() if s != "completed")
        parts = [f"{len(self.running)} running"] + ([f"{failed} not completed"] if failed else [])
        elapsed = self.clock() - self.start
        left = len(self.estimates) - len(self.finished)
        eta = f"ETA {format_duration(self.remaining_seconds())}" if left else "done"
        # The status goes where tqdm puts a description: a postfix would be printed after ", ".
        self._bar.set_description_str(f"{', '.join(parts)} [{format_duration(elapsed)} elapsed, {eta}]", refresh=True)

    # -- the factory runs call ------------------------------------------------------------------
    def __call__(self, total: int | None = None, initial: int = 0, desc: str = "", runs=()) -> "RunProgress":
        inner = None
        if self._bar is not None and self.inner_bars:
            from tqdm import tqdm
            inner = tqdm(total=total, initial=initial, desc=desc, file=sys.stderr, leave=False, position=1,
                         dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 30.0)
        return RunProgress(self.report, list(runs), total, initial, inner)


class RunProgress:
    """One run's (or one vectorised group's) progress, sent to the sweep as a fraction of its steps."""

    def __init__(self, send: Callable[[list[str], float], None], runs: list[str], total: int | None,
                 initial: int = 0, inner=None):
        self.send, self.runs, self.total, self.n, self.inner = send, runs, total, initial, inner
        self._last = 0.0
        self._send(force=True)

    def _send(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.total and (force or now - self._last >= SEND_INTERVAL):
            self._last = now
            self.send(self.runs, self.n / self.total)

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.inner is not None:
            self.inner.update(n)
        self._send()

    def set_postfix(self, values: dict[str, Any]) -> None:
        if self.inner is not None:
            self.inner.set_postfix(values)

    def close(self) -> None:
        self._send(force=True)
        if self.inner is not None:
            self.inner.close()


class QueueProgress:
    """The factory a worker process hands its runs: updates go to the parent over ``queue``."""

    def __init__(self, queue):
        self.queue = queue

    def _put(self, runs: list[str], fraction: float) -> None:
        self.queue.put(("progress", tuple(runs), fraction))

    def __call__(self, total: int | None = None, initial: int = 0, desc: str = "", runs=()) -> RunProgress:
        return RunProgress(self._put, list(runs), total, initial)


def drain(queue, sink: Callable[[tuple], None]) -> threading.Thread:
    """Feed every message of ``queue`` to ``sink`` on a daemon thread until a ``None`` arrives."""
    def loop():
        while True:
            message = queue.get()
            if message is None:
                return
            sink(message)
    thread = threading.Thread(target=loop, name="ganbench-progress", daemon=True)
    thread.start()
    return thread
