"""``python _child.py FAULT [ganbench arguments]``: the `ganbench` command with one fault injected.

FAULT is one of:

* ``none``
* ``kill-after-spec``: SIGKILL as soon as a run's ``spec.json`` is written
* ``kill-at-stats:N``: SIGKILL as soon as the stats line of step N is appended
* ``kill-replacing:NAME:K``: SIGKILL when the K-th complete temporary file of NAME is about to be renamed
  over it (a kill in the middle of an atomic write)
* ``kill-before-result``: SIGKILL just before ``result.json`` is written (the test metrics are logged)
* ``barrier:DIR:NAME:COUNT``: before its first run, wait until COUNT processes have arrived in DIR
  (at most two minutes), so that two processes start their sweeps together

A SIGKILL leaves the results directory as a crash does: no ``finally``, no cleanup, no flushing.
"""

import os
import signal
import sys
import time
from pathlib import Path

from ganbench import cli, runner, store


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def in_a_run(path) -> bool:
    return Path(path).parent.parent.name == store.RUNS


def inject(fault: str) -> None:
    kind, _, arg = fault.partition(":")
    if kind == "none":
        return
    if kind in ("kill-after-spec", "kill-before-result"):
        write_json = store.atomic_write_json

        def patched(path, obj):
            last = Path(path).name == store.RESULT and in_a_run(path)
            if kind == "kill-before-result" and last:
                die()
            write_json(path, obj)
            if kind == "kill-after-spec" and Path(path).name == store.SPEC and in_a_run(path):
                die()
        store.atomic_write_json = patched
    elif kind == "kill-at-stats":
        append = store.append_jsonl

        def patched(path, record):
            append(path, record)
            if Path(path).name == store.STATS and record.get("step") == int(arg):
                die()
        store.append_jsonl = patched
    elif kind == "kill-replacing":
        name, count = arg.split(":")
        replace, seen = os.replace, [0]

        def patched(src, dst):
            if Path(dst).name == name:
                seen[0] += 1
                if seen[0] == int(count):
                    die()
            replace(src, dst)
        os.replace = patched
    elif kind == "barrier":
        folder, me, count = arg.rsplit(":", 2)
        arrived = [False]

        def wait_for_the_others():
            if arrived[0]:
                return
            arrived[0] = True
            (Path(folder) / me).touch()
            deadline = time.monotonic() + 120
            while len(list(Path(folder).iterdir())) < int(count) and time.monotonic() < deadline:
                time.sleep(0.02)

        def at_barrier(fn):
            def wrapped(*args, **kwargs):
                wait_for_the_others()
                return fn(*args, **kwargs)
            return wrapped
        runner.execute = at_barrier(runner.execute)
        runner.execute_group = at_barrier(runner.execute_group)
    else:
        raise SystemExit(f"unknown fault {fault!r}")


if __name__ == "__main__":
    inject(sys.argv[1])
    cli.main(sys.argv[2:])
