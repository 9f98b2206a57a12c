"""Figures of a group, rendered with matplotlib's Agg canvas straight to PNG bytes.

Output must be byte-identical when regenerated, so: no pyplot (no global figure state), the default
style whatever the user's matplotlibrc says, a fixed dpi, and no ``Software`` text chunk (matplotlib
writes no timestamp into PNGs; the version string is dropped so upgrading matplotlib alone does not
change files that a diff would then flag).
"""

from __future__ import annotations

import io
import math
import os
import warnings
from typing import Any

import numpy as np

from ganbench.report import aggregate as agg
from ganbench.report.collect import Run
from ganbench.report.model import Figure, Group
from ganbench.report.tables import MetricColumn, Row, make_rows


def _finish_axes(fig, ax, xlabel: str, ylabel: str, title: str) -> bytes:
    """Labels, grid and legend of a one-axes plot, laid out and rendered to PNG bytes."""
    ax.set_xlabel(_plain(xlabel))
    ax.set_ylabel(_plain(ylabel))
    ax.set_title(_plain(title))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    _tight_layout(fig)
    return _png(fig)


def _tight_layout(fig) -> None:
    # Many small panels cannot always fit their labels; matplotlib then keeps the default layout,
    # which is fine, and its warning would only be noise on stderr.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Tight layout not applied")
        fig.tight_layout()

DPI = 100
MAX_POINTS = 2500   # VEEGAN/PacGAN evaluate 2D mixtures on 2500 samples: show as many
MAX_IMAGES = 64
MAX_PANELS = 36     # beyond this a grid is unreadable; the caption says what was left out


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure
    fig = MplFigure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _colour(i: int):
    from matplotlib import colormaps
    return colormaps["tab10"](i % 10)


def _style():
    import matplotlib.style
    return matplotlib.style.context("default")


def _plain(text: str) -> str:
    """Matplotlib reads ``$...$`` as mathtext: a variant name with dollars must print as is, not fail."""
    return str(text).replace("$", r"\$")


def _plain_log_ticks(axis) -> None:
    # "200" reads better than mathtext "2×10²" and skips mathtext's costly parser
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # 1-2-5 steps: labels within one decade too
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _first_completed(row: Row) -> Run | None:
    done = row.completed
    return done[0] if done else None


def _panels(runs: list[Run], panel) -> list[tuple[str, int, Any]]:
    """``(variant, seed, panel(run))`` for the lowest completed seed of each variant, where ``panel``
    gives something to draw (``None``: nothing, and the variant is left out)."""
    out = []
    for row in make_rows(runs):
        run = _first_completed(row)
        drawn = panel(run) if run is not None else None
        if drawn is not None:
            out.append((row.label, run.seed, drawn))
    return out


def _grid_shape(n: int) -> tuple[int, int]:
    cols = min(n, 6)
    return math.ceil(n / cols), cols


# ---------------------------------------------------------------------------------------------------

def curves_figure(group: Group, runs: list[Run], primary: MetricColumn) -> Figure | None:
    name = primary.protocol.name
    series = []
    for row in make_rows(runs):
        per_step: dict[int, list[float]] = {}
        for run in row.completed:
            for step, value in run.curves.get(name, []):
                if math.isfinite(value):
                    per_step.setdefault(step, []).append(value)
        if per_step:
            steps = sorted(per_step)
            mean = np.array([np.mean(per_step[s]) for s in steps])
            std = np.array([np.std(per_step[s], ddof=1) if len(per_step[s]) > 1 else 0.0 for s in steps])
            series.append((row.label, np.array(steps), mean, std, len(row.completed)))
    if not series:
        return None
    with _style():
        fig = _new_figure(7.5, 4.5)
        ax = fig.add_subplot()
        for i, (label, steps, mean, std, seeds) in enumerate(series):
            c = _colour(i)
            ax.plot(steps, mean, color=c, label=_plain(f"{label} ({seeds} seeds)"), linewidth=1.5)
            if np.any(std > 0):
                ax.fill_between(steps, mean - std, mean + std, color=c, alpha=0.2, linewidth=0)
        lows = [float(np.min(m - s)) for _, _, m, s, _ in series]
        highs = [float(np.max(m + s)) for _, _, m, s, _ in series]
        if primary.higher_is_better is False and min(lows) > 0 and max(highs) / min(lows) > 10:
            ax.set_yscale("log")  # a distance (FID) falls over orders of magnitude early in training
            _plain_log_ticks(ax.yaxis)
        png = _finish_axes(fig, ax, "step", f"{name} (val)", f"{name} on the validation split: mean ± std over seeds")
    return Figure(f"curves-{group.id}", group.id, f"Validation curves: {group.title}",
                  f"{name} on the validation split against training step; line = mean, band = ± std over "
                  f"completed seeds.", png)


def _load_samples(run: Run, problems: list[str]) -> np.ndarray | None:
    path = os.path.join(run.path, "samples.npz")
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return np.asarray(z["samples"])
    except Exception as exc:  # a truncated npz raises one of several zipfile/numpy errors
        problems.append(f"{run.name}/samples.npz: unreadable ({type(exc).__name__})")
        return None


def scatter_figure(group: Group, runs: list[Run], centres: np.ndarray | None, problems: list[str]) -> Figure | None:
    def points(run: Run):
        x = _load_samples(run, problems)
        return x[:MAX_POINTS].astype(np.float64) if x is not None and x.ndim == 2 and x.shape[1] == 2 else None

    panels = _panels(runs, points)
    if not panels:
        return None
    left_out = max(0, len(panels) - MAX_PANELS)
    panels = panels[:MAX_PANELS]
    if centres is not None:
        lo, hi = centres.min(axis=0), centres.max(axis=0)
        pad = 0.25 * max(float(np.max(hi - lo)), 1.0)
        lo, hi = lo - pad, hi + pad
    else:
        allx = np.concatenate([p[2] for p in panels])
        allx = allx[np.all(np.isfinite(allx), axis=1)]
        lo, hi = (np.percentile(allx, 1, axis=0), np.percentile(allx, 99, axis=0)) if len(allx) else (-1, 1)
    nr, nc = _grid_shape(len(panels))
    with _style():
        fig = _new_figure(2.6 * nc, 2.8 * nr)
        for i, (label, seed, x) in enumerate(panels):
            ax = fig.add_subplot(nr, nc, i + 1)
            if centres is not None:  # hollow rings under the samples, so covered modes stay visible
                ax.scatter(centres[:, 0], centres[:, 1], s=70, marker="o", facecolors="none",
                           edgecolors="red", linewidths=1.0, zorder=1)
            ax.scatter(x[:, 0], x[:, 1], s=4, alpha=0.6, color=_colour(0), linewidths=0, zorder=2)
            ax.set_xlim(lo[0], hi[0])
            ax.set_ylim(lo[1], hi[1])
            ax.set_aspect("equal")
            ax.set_title(_plain(f"{label}\nseed {seed}"), fontsize=7)
            ax.tick_params(labelsize=6)
        _tight_layout(fig)
        png = _png(fig)
    caption = (f"Final generated 2D samples (first {MAX_POINTS} of samples.npz, lowest completed seed) per variant"
               + ("; red rings = true mode centres." if centres is not None else "; mode centres unknown.")
               + (f" {left_out} more variant(s) not shown." if left_out else ""))
    return Figure(f"samples2d-{group.id}", group.id, f"2D samples: {group.title}", caption, png)


def _image_grid(run: Run, problems: list[str]) -> np.ndarray | None:
    png = os.path.join(run.path, "samples", "final.png")
    if os.path.exists(png):
        try:
            import matplotlib.image
            return matplotlib.image.imread(png)
        except Exception as exc:
            problems.append(f"{run.name}/samples/final.png: unreadable ({type(exc).__name__})")
    x = _load_samples(run, problems)
    if x is None or x.ndim != 4 or x.dtype != np.uint8 or x.shape[1] not in (1, 3):
        return None
    x = x[:MAX_IMAGES]
    n, c, h, w = x.shape
    side = math.ceil(math.sqrt(n))
    grid = np.zeros((side * h, side * w, c), dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, side)
        grid[r * h:(r + 1) * h, q * w:(q + 1) * w] = x[i].transpose(1, 2, 0)
    return grid[:, :, 0] if c == 1 else grid


def image_figure(group: Group, runs: list[Run], problems: list[str]) -> Figure | None:
    panels = _panels(runs, lambda run: _image_grid(run, problems))
    if not panels:
        return None
    left_out = max(0, len(panels) - MAX_PANELS)
    panels = panels[:MAX_PANELS]
    nr, nc = _grid_shape(len(panels))
    with _style():
        fig = _new_figure(2.6 * nc, 2.9 * nr)
        for i, (label, seed, img) in enumerate(panels):
            ax = fig.add_subplot(nr, nc, i + 1)
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
            ax.set_title(_plain(f"{label}\nseed {seed}"), fontsize=7)
            ax.axis("off")
        _tight_layout(fig)
        png = _png(fig)
    caption = ("Final samples per variant (samples/final.png, else samples.npz), lowest completed seed."
               + (f" {left_out} more variant(s) not shown." if left_out else ""))
    return Figure(f"images-{group.id}", group.id, f"Samples: {group.title}", caption, png)


PAIR_COLUMNS = 8   # samples shown per variant in a paired task's input / output / target figure
MAX_PAIR_PANELS = 12


def _pair_strip(run: Run, problems: list[str]) -> np.ndarray | None:
    """Rows input / output / target of the first samples of a paired task's ``samples.npz`` (inputs of
    another size, a super-resolution's, are enlarged by repeating pixels to the target's size)."""
    path = os.path.join(run.path, "samples.npz")
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if "inputs" not in z or "targets" not in z:
                return None
            inputs, outputs, targets = (np.asarray(z[k][:PAIR_COLUMNS]) for k in ("inputs", "samples", "targets"))
    except Exception as exc:  # a truncated npz raises one of several zipfile/numpy errors
        problems.append(f"{run.name}/samples.npz: unreadable ({type(exc).__name__})")
        return None
    if outputs.ndim != 4 or outputs.dtype != np.uint8 or outputs.shape[1] not in (1, 3) or inputs.ndim != 4:
        return None
    n, c, h, w = outputs.shape
    factor = max(1, h // inputs.shape[2])
    inputs = inputs.repeat(factor, axis=2).repeat(factor, axis=3)[:, :, :h, :w]
    strip = np.zeros((3 * h, n * w, c), dtype=np.uint8)
    for row, images in enumerate((inputs, outputs, targets)):
        for i in range(min(n, len(images))):
            strip[row * h:(row + 1) * h, i * w:(i + 1) * w] = images[i].transpose(1, 2, 0)
    return strip[:, :, 0] if c == 1 else strip


def pairs_figure(group: Group, runs: list[Run], problems: list[str]) -> Figure | None:
    panels = _panels(runs, lambda run: _pair_strip(run, problems))
    if not panels:
        return None
    left_out = max(0, len(panels) - MAX_PAIR_PANELS)
    panels = panels[:MAX_PAIR_PANELS]
    with _style():
        fig = _new_figure(7.0, 2.6 * len(panels))
        for i, (label, seed, strip) in enumerate(panels):
            ax = fig.add_subplot(len(panels), 1, i + 1)
            ax.imshow(strip, cmap="gray" if strip.ndim == 2 else None, interpolation="nearest")
            ax.set_title(_plain(f"{label}, seed {seed}: input / output / target"), fontsize=8)
            ax.axis("off")
        _tight_layout(fig)
        png = _png(fig)
    caption = (f"The first {PAIR_COLUMNS} test inputs (top), the final generator's outputs (middle) and their "
               "targets (bottom) per variant, from samples.npz, lowest completed seed."
               + (f" {left_out} more variant(s) not shown." if left_out else ""))
    return Figure(f"pairs-{group.id}", group.id, f"Input, output, target: {group.title}", caption, png)


def tradeoff_figure(group: Group, runs: list[Run], primary: MetricColumn) -> Figure | None:
    from ganbench.report.tables import metric_values
    points = []
    for row in make_rows(runs):
        q = agg.summarize(metric_values(row.runs, primary))
        t = agg.summarize([(r.result.get("throughput") or {}).get("train_images_per_second") for r in row.completed])
        if q.mean is not None and t.mean is not None and t.mean > 0:
            points.append((row.label, t, q))
    if not points:
        return None
    with _style():
        fig = _new_figure(7.0, 4.5)
        ax = fig.add_subplot()
        for i, (label, t, q) in enumerate(points):
            ax.errorbar([t.mean], [q.mean], xerr=[[t.std or 0.0]], yerr=[[q.std or 0.0]], fmt="o",
                        color=_colour(i), capsize=3, label=_plain(label))
        speeds = [t.mean for _, t, _ in points]
        if max(speeds) / min(speeds) > 10:  # variants span decades of speed (MLP vs ResNet)
            ax.set_xscale("log")
            _plain_log_ticks(ax.xaxis)
        png = _finish_axes(fig, ax, "train images / second",
                           f"{primary.label} ({'higher' if primary.higher_is_better else 'lower'} is better)",
                           f"{primary.label} against training throughput")
    return Figure(f"tradeoff-{group.id}", group.id, f"Quality vs throughput: {group.title}",
                  f"Mean {primary.label} (test split, final) against mean training throughput; bars = ± std over seeds.",
                  png)


def group_figures(group: Group, runs: list[Run], primary: MetricColumn | None, curve: MetricColumn | None,
                  centres: np.ndarray | None, problems: list[str]) -> list[Figure]:
    figs = []
    if curve is not None:
        figs.append(curves_figure(group, runs, curve))
    if primary is not None:
        figs.append(tradeoff_figure(group, runs, primary))
    figs += [scatter_figure(group, runs, centres, problems), image_figure(group, runs, problems),
             pairs_figure(group, runs, problems)]
    return [f for f in figs if f is not None]
