"""Runs -> tables: the leaderboard, the mode-collapse table and the stability table of each group.

A group is one (study, dataset, budget): numbers reached under different budgets are never put side by
side. Inside a group a row is one variant with one set of hyperparameters; its seeds are pooled.

A metric column is one *protocol*: metric name, feature extractor, number of samples and reference
split. ``fid_lenet`` and ``fid_inception`` are different names and so never share a column; two
``fid_lenet`` values computed on different sample counts or extractor weights are not comparable
either, so they get a column each, labelled by what differs.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Callable

from ganbench.api import PRIMARY_METRICS, primary_metric
from ganbench.report import aggregate as agg
from ganbench.report.collect import Run
from ganbench.report.model import BEST, TIE, Cell, Column, Group, Table
from ganbench.report.stability import LAST_K, curve_stats, failure_reason

MODE_COLLAPSE_METRICS = ("modes", "hq_percent", "reverse_kl", "stacked_modes", "stacked_kl")
# Which metric ranks a dataset's leaderboard when several are present, most preferred first.

MARK_NOTE = ("Bold = best mean in its column (direction taken from each metric's higher_is_better). "
             "≈ = within seed spread: the interval mean ± std overlaps the best's interval, so the "
             "two are not ranked apart. Std is over seeds (ddof=1); one seed has no spread.")


@dataclasses.dataclass(frozen=True)
class Protocol:
    name: str
    extractor: str
    num_samples: int | None
    reference_split: str


@dataclasses.dataclass
class MetricColumn:
    key: str
    label: str
    protocol: Protocol
    higher_is_better: bool
    runs: int   # how many completed runs report it (the primary is the most widely reported)


@dataclasses.dataclass
class Row:
    label: str
    runs: list[Run]            # every ended run of this variant (any status)

    @property
    def completed(self) -> list[Run]:
        return [r for r in self.runs if r.ok]


@dataclasses.dataclass
class DatasetFacts:
    num_modes: int = 0


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "_", text.lower()).strip("_") or "x"


def _protocol(rec: dict[str, Any], name: str) -> Protocol:
    n = rec.get("num_samples")
    return Protocol(name, str(rec.get("extractor") or ""), int(n) if isinstance(n, (int, float)) else None,
                    str(rec.get("reference_split") or ""))


# ---------------------------------------------------------------------------------------------------
# Grouping

def group_key(run: Run) -> tuple:
    value = run.budget["value"]
    return (run.dataset, run.budget["kind"], float(value) if is_number(value) else math.inf,
            str(value), run.study)


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def make_groups(runs: list[Run]) -> list[tuple[Group, list[Run]]]:
    by_key: dict[tuple, list[Run]] = {}
    for run in runs:
        by_key.setdefault(group_key(run), []).append(run)
    out, used = [], set()
    for key in sorted(by_key):
        members = by_key[key]
        first = members[0]
        budget = first.budget
        gid = slug(f"{first.dataset}-{budget['kind']}{agg.fmt_budget(budget).split()[0]}"
                   + ("" if first.study == "default" else f"-{first.study}"))
        base, i = gid, 2
        while gid in used:  # distinct names can slug alike ("a b" and "a_b"): ids must stay unique
            gid, i = f"{base}-{i}", i + 1
        used.add(gid)
        title = f"{first.dataset}, budget {agg.fmt_budget(budget)}"
        if first.study != "default":
            title += f", study {first.study}"
        out.append((Group(gid, title, first.study, first.dataset, dict(budget)), members))
    return out


def make_rows(runs: list[Run]) -> list[Row]:
    by_variant: dict[str, dict[str, list[Run]]] = {}
    for run in runs:
        by_variant.setdefault(run.variant, {}).setdefault(run.hparams_key, []).append(run)
    rows = []
    for variant in sorted(by_variant):
        hp_sets = by_variant[variant]
        for hp in sorted(hp_sets):
            label = variant if len(hp_sets) == 1 else f"{variant} [hparams {hp}]"
            rows.append(Row(label, sorted(hp_sets[hp], key=lambda r: (r.seed, r.name))))
    return rows


# ---------------------------------------------------------------------------------------------------
# Metric columns

def metric_columns(runs: list[Run]) -> list[MetricColumn]:
    seen: dict[Protocol, list[bool]] = {}
    for run in runs:
        if not run.ok:
            continue
        for name, rec in sorted(run.final_metrics().items()):
            seen.setdefault(_protocol(rec, name), []).append(bool(rec.get("higher_is_better")))
    names: dict[str, list[Protocol]] = {}
    for p in seen:
        names.setdefault(p.name, []).append(p)
    cols = []
    for name in sorted(names):
        protocols = sorted(names[name], key=lambda p: (p.extractor, p.num_samples or 0, p.reference_split))
        for p in protocols:
            label, key = name, name
            if len(protocols) > 1:
                parts = []
                if len({q.extractor for q in protocols}) > 1:
                    parts.append(p.extractor or "?")
                if len({q.num_samples for q in protocols}) > 1:
                    parts.append(f"N={p.num_samples}")
                if len({q.reference_split for q in protocols}) > 1:
                    parts.append(p.reference_split or "?")
                label = f"{name} ({', '.join(parts)})"
                key = slug(f"{name}@{'-'.join(parts)}")
            flags = seen[p]
            # the record says which way is better; a majority vote guards against one odd record
            hib = sum(flags) * 2 > len(flags)
            cols.append(MetricColumn(key, label, p, hib, len(flags)))
    return cols


def primary_column(cols: list[MetricColumn]) -> MetricColumn | None:
    def widest(name: str) -> MetricColumn | None:
        cands = [c for c in cols if c.protocol.name == name]
        return max(cands, key=lambda c: c.runs) if cands else None

    name = primary_metric(c.protocol.name for c in cols)
    listed = name is not None and (name in PRIMARY_METRICS or name.startswith("fid_"))
    if listed:
        return widest(name)
    return max(cols, key=lambda c: c.runs) if cols else None


def curve_column(runs: list[Run], cols: list[MetricColumn], primary: MetricColumn | None) -> MetricColumn | None:
    """The metric whose validation curve stands for the variant: the primary if it has one, else the
    next in the primary order that does (a runner may evaluate only the cheap extractor on val)."""
    have = {name for r in runs if r.ok for name, pts in r.curves.items() if pts}
    if primary is not None and primary.protocol.name in have:
        return primary
    rest = [c for c in cols if c.protocol.name in have]
    return primary_column(rest)


def metric_values(runs: list[Run], col: MetricColumn) -> list[float]:
    """Values of completed runs measured under exactly this column's protocol."""
    out = []
    for run in runs:
        if not run.ok:
            continue
        rec = run.final(col.protocol.name)
        if rec is None or _protocol(rec, col.protocol.name) != col.protocol:
            continue
        v = run.final_value(col.protocol.name)
        if v is not None:
            out.append(v)
    return out


def stat_cell(values: list[float], seeds: int | None = None) -> Cell:
    s = agg.summarize(values)
    return Cell(agg.fmt_summary(s, seeds), s.mean, s.std, s.n)


# ---------------------------------------------------------------------------------------------------
# Marks and ordering

def mark_best(table: Table) -> None:
    for j, col in enumerate(table.columns):
        if col.higher_is_better is None:
            continue
        cells = [row[j] for row in table.rows if row[j].value is not None and math.isfinite(row[j].value)]
        if len({c.value for c in cells}) < 2:
            continue  # a column where every row agrees has no best worth pointing at
        pick = max if col.higher_is_better else min
        best = pick(cells, key=lambda c: c.value)
        b_lo, b_hi = _interval(best)
        for c in cells:
            if c.value == best.value:
                c.mark = BEST
            elif col.kind == "stat":
                lo, hi = _interval(c)
                if lo <= b_hi and b_lo <= hi:
                    c.mark = TIE


def _interval(c: Cell) -> tuple[float, float]:
    s = c.std if c.std is not None and math.isfinite(c.std) else 0.0
    return c.value - s, c.value + s


def sort_rows(rows: list[tuple[Row, list[Cell]]], j: int | None, higher_is_better: bool | None
              ) -> list[tuple[Row, list[Cell]]]:
    def key(item: tuple[Row, list[Cell]]):
        row, cells = item
        v = cells[j].value if j is not None else None
        if v is None or not math.isfinite(v):
            return (1, 0.0, row.label)
        return (0, -v if higher_is_better else v, row.label)
    return sorted(rows, key=key)


# ---------------------------------------------------------------------------------------------------
# Provenance

def _distinct(values) -> list[str]:
    return sorted({str(v) for v in values})


def provenance(group: Group, runs: list[Run], cols: list[MetricColumn], extra: list[tuple[str, list[str]]] = ()
               ) -> list[tuple[str, list[str]]]:
    vers = [r.spec.get("versions") or {} for r in runs]
    env = [r.spec.get("env") or {} for r in runs]
    inner = [r.inner for r in runs]
    items = [
        ("budget", [agg.fmt_budget(group.budget)]),
        ("runs", [f"{len(runs)} ended ({sum(r.ok for r in runs)} completed)"]),
        ("ganbench", _distinct(v.get("ganbench") for v in vers)),
        ("torch", _distinct(v.get("torch") for v in vers)),
        ("torch-fidelity", _distinct(v.get("torch_fidelity") for v in vers)),
        ("extractor", _distinct(f"{c.protocol.name}: {c.protocol.extractor or 'none'}" for c in cols)),
        ("samples", _distinct(f"{c.protocol.name}: {c.protocol.num_samples}" for c in cols)),
        ("reference split", _distinct(c.protocol.reference_split or "none" for c in cols)),
        ("checkpoint", ["final (metrics of the last step, from result.json 'final')"]),
        ("device", _distinct(f"{i.get('device')} {i.get('precision')}, threads={i.get('threads')}" for i in inner)),
        ("cpu", _distinct(e.get("cpu") for e in env)),
        ("gpu", _distinct(e.get("gpu") or "none" for e in env)),
        ("git commit", _distinct(e.get("git_commit") or "unknown" for e in env)),
    ]
    return [(k, v) for k, v in list(items) + list(extra) if v]


# ---------------------------------------------------------------------------------------------------
# The three tables

def _status_text(runs: list[Run], incomplete: int) -> str:
    counts = [(sum(r.status == s for r in runs), s) for s in ("completed", "diverged", "failed")]
    parts = [f"{n} {s}" for n, s in counts if n]
    if incomplete:
        parts.append(f"{incomplete} incomplete")
    return ", ".join(parts) or agg.DASH


def _distinct_count(values: list[Any], fmt: Callable[[float], str]) -> Cell:
    xs = sorted({float(v) for v in values if is_number(v)})
    if not xs:
        return Cell(agg.DASH)
    text = fmt(xs[0]) if len(xs) == 1 else f"{fmt(xs[0])}–{fmt(xs[-1])}"
    return Cell(text, xs[0])


def leaderboard(group: Group, runs: list[Run], incomplete: dict[str, int]) -> Table:
    cols = metric_columns(runs)
    primary = primary_column(cols)
    if primary is not None:  # the ranking metric leads
        cols = [primary] + [c for c in cols if c is not primary]
    kinds = _distinct(r.result.get("memory_kind") for r in runs if r.ok and r.result.get("memory_kind"))
    mem_ranked = len(kinds) <= 1
    columns = ([Column("variant", "variant"), Column("seeds", "seeds", None, "number")]
               + [Column(c.key, c.label, c.higher_is_better, "stat") for c in cols]
               + [Column("train_images_per_second", "train img/s", True, "stat"),
                  Column("peak_memory", "peak memory" + (f" ({kinds[0]})" if len(kinds) == 1 else " (mixed kinds)"),
                         False if mem_ranked else None, "stat"),
                  Column("params", "params G / D", None, "text"),
                  Column("flops_per_step", "FLOPs/step", None, "number"),
                  Column("status", "status", None, "text")])
    built = []
    for row in make_rows(runs):
        done = row.completed
        seeds = len(done)
        cells = [Cell(row.label), Cell(str(seeds), float(seeds), n=seeds)]
        cells += [stat_cell(metric_values(row.runs, c), seeds) for c in cols]
        cells.append(stat_cell([(r.result.get("throughput") or {}).get("train_images_per_second") for r in done],
                               seeds))
        mem = agg.summarize([r.result.get("peak_memory_bytes") for r in done])
        cells.append(Cell(agg.fmt_bytes(mem.mean), mem.mean, mem.std, mem.n))
        g = _distinct_count([(r.result.get("params") or {}).get("generator") for r in done], agg.fmt_count)
        d = _distinct_count([(r.result.get("params") or {}).get("discriminator") for r in done], agg.fmt_count)
        cells.append(Cell(f"{g.text} / {d.text}", (g.value or 0) + (d.value or 0) if g.value is not None else None))
        cells.append(_distinct_count([r.result.get("flops_per_step") for r in done], agg.fmt_count))
        cells.append(Cell(_status_text(row.runs, incomplete.get(row.runs[0].variant, 0))))
        built.append((row, cells))
    j = columns.index(next(c for c in columns if primary and c.key == primary.key)) if primary else None
    built = sort_rows(built, j, primary.higher_is_better if primary else None)
    notes = [
        f"One row per variant; cells are mean ± std over completed seeds. Sorted by "
        f"{primary.label if primary else 'variant'}"
        + (f" ({'higher' if primary.higher_is_better else 'lower'} is better)." if primary else "."),
        "Diverged and failed runs are excluded from every mean (see the status column and the stability table).",
        MARK_NOTE,
    ]
    if not mem_ranked:
        notes.append("Peak memory mixes measurement kinds (" + ", ".join(kinds) + "): not ranked.")
    extra = [("memory", kinds)] if kinds else []
    table = Table(f"leaderboard-{group.id}", "leaderboard", group.id, f"Leaderboard: {group.title}",
                  columns, [c for _, c in built], provenance(group, runs, cols, extra), notes)
    mark_best(table)
    return table


def mode_collapse(group: Group, runs: list[Run]) -> Table | None:
    cols = [c for c in metric_columns(runs) if c.protocol.name in MODE_COLLAPSE_METRICS]
    if not cols:
        return None
    order = {n: i for i, n in enumerate(MODE_COLLAPSE_METRICS)}
    cols.sort(key=lambda c: (order[c.protocol.name], c.key))
    columns = ([Column("variant", "variant"), Column("seeds", "seeds", None, "number")]
               + [Column(c.key, c.label, c.higher_is_better, "stat") for c in cols])
    built = []
    for row in make_rows(runs):
        seeds = len(row.completed)
        cells = [Cell(row.label), Cell(str(seeds), float(seeds), n=seeds)]
        cells += [stat_cell(metric_values(row.runs, c), seeds) for c in cols]
        built.append((row, cells))
    built = sort_rows(built, 2, cols[0].higher_is_better)
    notes = [f"Mode coverage of the final generator, mean ± std over completed seeds; sorted by {cols[0].label}.",
             MARK_NOTE]
    table = Table(f"mode_collapse-{group.id}", "mode_collapse", group.id, f"Mode collapse: {group.title}",
                  columns, [c for _, c in built], provenance(group, runs, cols), notes)
    mark_best(table)
    return table


def stability(group: Group, runs: list[Run], facts: DatasetFacts) -> Table | None:
    cols = metric_columns(runs)
    primary = primary_column(cols)
    if primary is None:
        return None
    hib = primary.higher_is_better
    curve_col = curve_column(runs, cols, primary)
    name = curve_col.protocol.name if curve_col else primary.protocol.name
    curve_hib = curve_col.higher_is_better if curve_col else hib
    columns = [Column("variant", "variant"),
               Column("runs", "runs", None, "number"),
               Column("diverged", "diverged", None, "number"),
               Column("failed", "failed", None, "number"),
               Column("failure_rate", "failure rate", False, "number"),
               Column("mean", f"{primary.label} mean", hib, "number"),
               Column("std", f"{primary.label} std", False, "number"),
               Column("iqr", f"{primary.label} IQR", False, "number"),
               Column("osc_std", f"{name} val std (last {LAST_K})", False, "stat"),
               Column("osc_tv", f"{name} val total variation (last {LAST_K})", False, "stat"),
               Column("best_final_gap", f"{name} val best − final", False, "stat")]
    built = []
    for row in make_rows(runs):
        n = len(row.runs)
        reasons = [failure_reason(r, primary.protocol.name, facts.num_modes) for r in row.runs]
        failures = sum(x is not None for x in reasons)
        vals = [v for v in metric_values(row.runs, primary) if math.isfinite(v)]
        s = agg.summarize(vals)
        iq = agg.iqr(vals)
        curves = [curve_stats(r.curves.get(name, []), curve_hib) for r in row.completed]
        curves = [c for c in curves if c is not None]
        seeds = len(row.completed)
        cells = [Cell(row.label),
                 Cell(str(n), float(n), n=n),
                 Cell(str(reasons.count("diverged")), float(reasons.count("diverged"))),
                 Cell(str(reasons.count("failed")), float(reasons.count("failed"))),
                 Cell(f"{failures}/{n} ({100 * failures / n:.0f}%)", failures / n),
                 Cell(agg.fmt_number(s.mean), s.mean, n=s.n),
                 Cell(agg.fmt_number(s.std), s.std),
                 Cell(agg.fmt_number(iq), iq),
                 stat_cell([c.std for c in curves], seeds),
                 stat_cell([c.total_variation for c in curves], seeds),
                 stat_cell([c.best_final_gap for c in curves], seeds)]
        built.append((row, cells))
    built = sort_rows(built, 5, hib)
    notes = [
        f"Primary metric: {primary.label} ({'higher' if hib else 'lower'} is better); mean, std (ddof=1) and "
        "IQR over completed seeds with a finite value.",
        "Failure rate = runs that diverged, failed, ended with a non-finite primary metric"
        + (f", or covered fewer than half of the {facts.num_modes} modes" if facts.num_modes else "")
        + ", over all ended runs.",
        f"Oscillation: on each completed run's validation curve of {name}, the std (ddof=0) and total variation "
        f"sum|Δ| of the last {LAST_K} evaluations (fewer if the curve is shorter); best − final = how much worse "
        "the last validation point is than the curve's best. Shown as mean ± std over seeds.",
        MARK_NOTE,
    ]
    table = Table(f"stability-{group.id}", "stability", group.id, f"Stability: {group.title}",
                  columns, [c for _, c in built], provenance(group, runs, [primary]), notes)
    mark_best(table)
    return table
