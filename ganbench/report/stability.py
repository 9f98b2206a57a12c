"""Stability of a variant across seeds and along its validation curve (metrics-protocols.md section 4).

* failure: the run diverged or failed, or completed with a non-finite primary metric, or (when the
  dataset's number of modes is known) ended with fewer than half of the modes covered;
* oscillation: over the last ``K`` validation points of the primary metric, their standard deviation
  (population, ``ddof=0``: these points are the whole window, not a sample) and total variation
  ``sum |v[i+1] - v[i]|``;
* best - final gap: how much worse the last validation point is than the best one on the same curve
  (always >= 0, in the metric's units).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ganbench.report.collect import Run

LAST_K = 5


@dataclasses.dataclass(frozen=True)
class CurveStats:
    points: int            # how many points the window had (K, or fewer on a short curve)
    std: float
    total_variation: float
    best_final_gap: float


def curve_stats(curve: list[tuple[int, float]], higher_is_better: bool, k: int = LAST_K) -> CurveStats | None:
    values = [v for _, v in curve if math.isfinite(v)]
    if not values:
        return None
    window = np.asarray(values[-k:], dtype=np.float64)
    tv = float(np.abs(np.diff(window)).sum()) if len(window) > 1 else 0.0
    best = max(values) if higher_is_better else min(values)
    gap = (best - values[-1]) if higher_is_better else (values[-1] - best)
    return CurveStats(len(window), float(window.std(ddof=0)), tv, float(gap))


def failure_reason(run: Run, primary: str | None, num_modes: int = 0) -> str | None:
    """Why a run counts as a failure, or ``None``."""
    if run.status != "completed":
        return run.status
    if primary is not None:
        value = run.final_value(primary)
        if value is not None and not math.isfinite(value):
            return "non-finite"
    if num_modes > 0:
        # values whose metric declared that they count the dataset's modes (api.Metric.counts_modes)
        for name, rec in sorted(run.final_metrics().items()):
            if (rec.get("extra") or {}).get("counts_modes") is not True:
                continue
            value = run.final_value(name)
            if value is not None and math.isfinite(value) and value < 0.5 * num_modes:
                return "collapsed"
    return None
