"""Summaries over seeds and how numbers are printed.

The standard deviation over seeds is the sample one (``ddof=1``): seeds are a sample of what the
variant does, and with 3-5 seeds the population formula would understate the spread. One seed has
no spread, shown as "–".
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable

import numpy as np

DASH = "–"


@dataclasses.dataclass(frozen=True)
class Summary:
    mean: float | None
    std: float | None
    n: int


def _numbers(values: Iterable) -> list[float]:
    # stored files are not trusted: anything that is not a finite number is left out, never raised on
    return [float(v) for v in values
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]


def summarize(values: Iterable[float | None]) -> Summary:
    xs = _numbers(values)
    if not xs:
        return Summary(None, None, 0)
    arr = np.asarray(xs, dtype=np.float64)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else None
    return Summary(float(arr.mean()), std, len(arr))


def iqr(values: Iterable[float]) -> float | None:
    xs = _numbers(values)
    if len(xs) < 2:
        return None
    q75, q25 = np.percentile(np.asarray(xs, dtype=np.float64), [75, 25])
    return float(q75 - q25)


def fmt_number(x: float | None, digits: int = 4) -> str:
    if x is None or not math.isfinite(x):
        return DASH
    if x == 0:
        return "0"
    if abs(x) >= 10 ** digits:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def _decimals_for(std: float) -> int:
    # two significant digits of the spread; the mean is printed to the same place, since digits
    # below the seed-to-seed noise carry no information
    if std <= 0 or not math.isfinite(std):
        return 3
    return int(min(6, max(0, 1 - math.floor(math.log10(std)))))


def fmt_summary(s: Summary, seeds: int | None = None) -> str:
    """``mean ± std``; ``(n=k)`` is added when fewer values than the row's seeds contributed."""
    if s.mean is None:
        return DASH
    if s.std is None:
        text = fmt_number(s.mean)
    elif s.std <= 1e-9 * abs(s.mean):
        # Seeds agreed (counts often do; a vectorised group shares one throughput), up to float
        # rounding in the std itself: no spread to size the decimals by.
        text = f"{fmt_number(s.mean)} ± 0"
    else:
        d = _decimals_for(s.std)
        text = f"{s.mean:.{d}f} ± {s.std:.{d}f}"
    if seeds is not None and s.n != seeds:
        text += f" (n={s.n})"
    return text


def fmt_bytes(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return DASH
    return f"{x / 2 ** 20:.1f} MiB"


def fmt_count(x: float | None) -> str:
    """Parameter and FLOP counts with SI prefixes (1.23M, 4.5G)."""
    if x is None or not math.isfinite(x):
        return DASH
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.0f}"


def fmt_budget(budget: dict) -> str:
    value = budget.get("value")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = f"{value:g}"  # 2e+11 flops, 600 steps, 2.5 kimg
    return f"{value} {budget.get('kind')}"
