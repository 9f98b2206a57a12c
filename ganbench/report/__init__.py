"""``ganbench report``: stored runs -> leaderboard tables, figures, and files in any report format.

    report = build_report("results")                 # read runs, compute tables and figures
    paths = write_report(report, "out", formats)     # format names or aliases; None = the defaults

Modules: :mod:`.collect` reads run directories, :mod:`.tables` builds tables, :mod:`.stability` holds
the stability measures, :mod:`.aggregate` the over-seed statistics and number formatting,
:mod:`.figures` draws PNGs, :mod:`.model` is the data the format plugins render.

Regenerating from the same runs gives byte-identical files: no timestamps, no absolute paths, and
every listing is sorted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ganbench.report.collect import Run, collect_runs
from ganbench.report.model import BEST, TIE, Cell, Column, Figure, Group, MetricNote, Report, Table
from ganbench.report.tables import DatasetFacts
from ganbench.store import atomic_write_bytes

__all__ = ["build_report", "write_report", "write_figures", "Report", "Table", "Column", "Cell", "Figure",
           "Group", "BEST", "TIE", "resolve_formats"]


def _dataset_class(host: Any, name: str):
    try:
        return host.datasets.get(name) if host is not None else None
    except Exception:  # an unknown or unloadable dataset only loses its mode centres, not the report
        return None


def _mode_centres(cls: Any) -> np.ndarray | None:
    """The dataset plugin's declared ``modes`` ([K, 2] centres), or ``None``."""
    try:
        modes = None if cls is None else cls.modes
        if modes is None:
            return None
        arr = np.asarray(modes, dtype=np.float64)
    except Exception:  # centres only decorate a figure: a plugin bug here must not sink the report
        return None
    return arr if arr.ndim == 2 and arr.shape[1] == 2 and len(arr) else None


def _dataset_facts(cls: Any) -> DatasetFacts:
    info = getattr(cls, "info", None)
    num_modes = getattr(info, "num_modes", 0)
    return DatasetFacts(num_modes=int(num_modes) if isinstance(num_modes, int) else 0)


def _load_host(host: Any) -> Any:
    if host is None:
        from ganbench import plugins
        host = plugins.load()
    return host


def build_report(results_dir: str, host: Any = None, figures: bool = True) -> Report:
    """Read every run under ``results_dir/runs`` and compute the report.

    :param host: a :func:`ganbench.plugins.load` result, for dataset facts (mode centres, number of
        modes); loaded if ``None``.
    :param figures: draw figures (matplotlib); off gives tables only, faster.
    """
    import ganbench
    from ganbench.report import tables as tb

    host = _load_host(host)
    coll = collect_runs(results_dir)
    problems = list(coll.problems)
    groups, all_tables, all_figures = [], [], []
    keyed = {}
    for spec in coll.incomplete_specs:
        probe = Run("", "", spec, {}, {})
        keyed.setdefault(tb.group_key(probe), {}).setdefault(probe.variant, 0)
        keyed[tb.group_key(probe)][probe.variant] += 1
    for group, runs in tb.make_groups(coll.runs):
        cls = _dataset_class(host, group.dataset)
        facts = _dataset_facts(cls)
        groups.append(group)
        incomplete = keyed.get(tb.group_key(runs[0]), {})
        made = [tb.leaderboard(group, runs, incomplete, coll.references),
                tb.mode_collapse(group, runs, coll.references),
                tb.stability(group, runs, facts, coll.references)]
        all_tables += [t for t in made if t is not None]
        if figures:
            from ganbench.report.figures import group_figures
            cols = tb.metric_columns(runs)
            primary = tb.primary_column(cols)
            all_figures += group_figures(group, runs, primary, tb.curve_column(runs, cols, primary),
                                         _mode_centres(cls), problems)
    # published claims of studies that declare them (<results>/studies/*.json), one group each
    from ganbench.report.reproduce import claims_section
    claim_groups, claim_tables = claims_section(results_dir, coll.runs, problems, [g.id for g in groups])
    groups, all_tables = groups + claim_groups, all_tables + claim_tables
    return Report(ganbench.__version__, groups, all_tables, all_figures, len(coll.runs),
                  list(coll.incomplete), problems, metric_notes(coll.runs, host))


def metric_notes(runs, host) -> list[MetricNote]:
    """One line per metric plugin whose values appear in ``runs``: its description and paper, read from
    the plugin's own declaration (values record which plugin made them in ``extra["metric"]``)."""
    produced: dict[str, set[str]] = {}
    for run in runs:
        for name, rec in run.final_metrics().items():
            plugin = (rec.get("extra") or {}).get("metric")
            if isinstance(plugin, str):
                produced.setdefault(plugin, set()).add(name)
    notes = []
    for plugin in sorted(produced):
        try:
            cls = host.metrics.get(plugin)
        except Exception:  # a plugin uninstalled since the run: its values stay, unexplained
            continue
        notes.append(MetricNote(plugin, sorted(produced[plugin]), cls.describe(), cls.paper))
    return notes


def write_figures(report: Report, out_dir: str) -> list[str]:
    """Write each figure to ``out_dir/figures/<id>.png`` (formats that link rather than embed call this)."""
    if not report.figures:
        return []
    fig_dir = os.path.join(out_dir, "figures")
    os.makedirs(fig_dir, exist_ok=True)
    paths = []
    for fig in report.figures:
        path = os.path.join(fig_dir, fig.filename)
        atomic_write_bytes(Path(path), fig.png)
        paths.append(path)
    return paths


def resolve_formats(host: Any, names: Iterable[str] | None = None) -> list[type]:
    """Format plugin classes for ``names``, each a format's name or one of its declared ``aliases``;
    ``None`` (or nothing) gives the loaded formats that declare ``default``. An unknown or ambiguous
    name raises :class:`ganbench.errors.UsageError`."""
    from ganbench.errors import UsageError
    loaded = list(host.report_formats)
    if not names:
        return [cls for cls in loaded if cls.default]
    out = []
    for name in names:
        if name not in host.report_formats:
            claimed = [cls for cls in loaded if name in cls.aliases]
            if len(claimed) > 1:
                raise UsageError(f"report format alias {name!r} is claimed by "
                                 + " and ".join(cls.name for cls in claimed) + "; use the name")
            name = claimed[0].name if claimed else name
        cls = host.report_formats.get(name)  # unknown: the registry's message lists the valid names
        if cls not in out:
            out.append(cls)
    return out


def write_report(report: Report, out_dir: str, formats: Iterable[str] | None = None, host: Any = None) -> list[str]:
    """Render ``report`` with each named format plugin under ``out_dir``; return the paths written.

    ``formats`` are names or aliases (:func:`resolve_formats`); ``None`` writes the default formats.
    Unknown format names raise :class:`ganbench.errors.UsageError` listing the installed ones, before
    anything is written. Every file is replaced whole (:func:`ganbench.store.atomic_write_bytes`), so a
    write that fails (a full disk: an ``OSError`` naming the path) leaves the previous file in place.
    """
    host = _load_host(host)
    classes = resolve_formats(host, formats)
    os.makedirs(out_dir, exist_ok=True)
    paths: list[str] = []
    for cls in classes:
        for path in cls().render(report, out_dir):
            if path not in paths:
                paths.append(path)
    return paths
