"""What the speed benchmarks share: side-by-side timing, the machine, and one table of ratios.

(``conftest.py`` holds the ``speed`` fixture and prints the table; this module is what it imports.)

Timings on a shared CPU swing 30-50 % from run to run, so a ratio is only ever measured inside one
benchmark, with its contenders interleaved round by round (the order reversed every other round), and
reported, never asserted. ``make benchmark`` ends with the table of every ratio measured, as markdown.

A benchmark fills a slot of the table through the ``speed`` fixture::

    def test_vectorized_vs_sequential(benchmark, speed):
        timings = speed.interleave(benchmark, {"vectorised": run_k_seeds, "sequential": run_one_by_one},
                                   images={"vectorised": k * steps * batch, "sequential": k * steps * batch})
        speed.ratio(benchmark, "vectorised", f"MLP ring8, K={k}, fp32, 1 thread", "vectorised", "sequential",
                    timings)

``interleave`` runs ``benchmark.pedantic`` over rounds that each call every contender once (so
pytest-benchmark's own row is the time of one whole round), and returns the seconds of each contender
per round. ``ratio`` records ``numerator / denominator`` as a throughput ratio (images per second of the
numerator over those of the denominator: above 1 the numerator is faster) from the best rounds ("min")
and from the median rounds ("median"), stores it with both sides' images per second and the machine in
``benchmark.extra_info``, and adds it to the table. ``speed.skip(slot, setting, reason)`` says in the
table why a slot was not measured here, then skips the test. ``GANBENCH_BENCHMARK_ROUNDS=N`` gives every
interleaved benchmark N rounds instead of its own default.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import statistics
import time
from typing import Callable, Mapping

import pytest
import torch

# The table's rows, in order: (slot, what the ratio compares). A slot nothing filled is printed as such.
SLOTS = {
    "harness": "harness / hand-written loop (same ops)",
    "reference": "ganbench / reference DCGAN-64 (pytorch/examples loop)",
    "reference_reuse": "ganbench reuse_fake_for_generator=true / reference DCGAN-64",
    "reference_same_work": "ganbench / reference DCGAN-64 drawing fresh fakes for G (same work)",
    "bf16": "bf16 autocast / fp32",
    "vectorised": "vectorised K / sequential",
}
PENDING: dict[str, str] = {}  # slot -> where its benchmark lives, for slots no benchmark fills yet


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


@functools.lru_cache(maxsize=None)
def machine() -> dict:
    flags = _cpu_flags()
    info = {"cpu": _cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpu_bf16": sorted(f for f in flags if f in ("avx512_bf16", "amx_bf16", "amx_tile")),
            "logical_cpus": os.cpu_count(),
            "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def machine_line() -> str:
    m = machine()
    bf16 = ", ".join(m["cpu_bf16"]) or "no native bf16"
    gpu = f"; GPU {m['gpu']}" if "gpu" in m else ""
    return (f"{m['cpu']} ({m['logical_cpus']} logical CPUs, torch CPU capability {m['cpu_capability']}, "
            f"{bf16}){gpu}; torch {m['torch']}")


def sync(device: str | torch.device) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


@contextlib.contextmanager
def num_threads(n: int):
    """torch.set_num_threads(n) for a block, restored after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class SpeedTable:
    def __init__(self):
        self.rows: list[dict] = []
        self.skipped: list[dict] = []

    def interleave(self, benchmark, contenders: Mapping[str, Callable[[], object]], images: Mapping[str, int],
                   rounds: int = 5, warmup_rounds: int = 1, device: str = "cpu") -> dict[str, dict]:
        """Time ``contenders`` side by side; returns ``{name: {"seconds": [...], "images": n}}``."""
        names = list(contenders)
        seconds: list[dict[str, float]] = []
        rounds = int(os.environ.get("GANBENCH_BENCHMARK_ROUNDS") or rounds)

        def one_round():
            order = names if len(seconds) % 2 == 0 else names[::-1]
            times = {}
            for name in order:
                sync(device)
                start = time.perf_counter()
                contenders[name]()
                sync(device)
                times[name] = time.perf_counter() - start
            seconds.append(times)

        benchmark.pedantic(one_round, rounds=rounds, warmup_rounds=warmup_rounds, iterations=1)
        kept = seconds[warmup_rounds:] or seconds  # --benchmark-disable runs a single round
        return {n: {"seconds": [r[n] for r in kept], "images": int(images[n])} for n in names}

    def ratio(self, benchmark, slot: str, setting: str, numerator: str, denominator: str,
              timings: Mapping[str, dict]) -> dict:
        if slot not in SLOTS:
            raise KeyError(f"unknown slot {slot!r}; the table has {sorted(SLOTS)}")
        a, b = timings[numerator], timings[denominator]

        def ips(side, pick):
            return side["images"] / pick(side["seconds"])

        row = {"slot": slot, "setting": setting, "numerator": numerator, "denominator": denominator,
               "min": ips(a, min) / ips(b, min), "median": ips(a, statistics.median) / ips(b, statistics.median),
               "numerator_images_per_second": ips(a, min), "denominator_images_per_second": ips(b, min),
               "rounds": len(a["seconds"])}
        self.rows.append(row)
        extra = benchmark.extra_info
        extra.setdefault("machine", machine())
        extra.setdefault("ratios", []).append(row)
        for name, side in timings.items():
            extra.setdefault("seconds", {})[name] = {"min": min(side["seconds"]),
                                                     "median": statistics.median(side["seconds"]),
                                                     "rounds": side["seconds"]}
            extra.setdefault("images_per_second", {})[name] = {"best": ips(side, min),
                                                               "median": ips(side, statistics.median)}
        return row

    def skip(self, slot: str | list[str], setting: str, reason: str):
        for one in [slot] if isinstance(slot, str) else slot:
            self.skipped.append({"slot": one, "setting": setting, "reason": reason})
        pytest.skip(reason)

    def skip_unless_threads(self, slot: str | list[str], setting: str, device: str, threads: int) -> None:
        """Skip a thread count that means nothing here (off the CPU, or more threads than CPUs)."""
        if device != "cpu" and threads != 1:
            self.skip(slot, setting, "threads only matter on the CPU")
        if threads > (os.cpu_count() or 1):
            self.skip(slot, setting, f"{os.cpu_count()} CPUs here")

    def markdown(self) -> list[str]:
        lines = [f"Machine: {machine_line()}.", "",
                 "| ratio (throughput A / B) | setting | min | median | A img/s | B img/s | rounds |",
                 "| --- | --- | --- | --- | --- | --- | --- |"]
        for slot, label in SLOTS.items():
            rows = [r for r in self.rows if r["slot"] == slot]
            for r in rows:
                lines.append(f"| {label} | {r['setting']} | {r['min']:.2f} | {r['median']:.2f} | "
                             f"{r['numerator_images_per_second']:.1f} | {r['denominator_images_per_second']:.1f} | "
                             f"{r['rounds']} |")
            skipped = [s for s in self.skipped if s["slot"] == slot]
            for s in skipped:
                lines.append(f"| {label} | {s['setting']} | skipped: {s['reason']} | | | | |")
            if not rows and not skipped:
                lines.append(f"| {label} | | not measured: {PENDING.get(slot, 'no benchmark ran for this slot')} "
                             f"| | | | |")
        lines += ["", "min: from each side's best round; median: from each side's median round; img/s: best "
                  "round. Contenders alternate within every round (order reversed every other round)."]
        return lines
