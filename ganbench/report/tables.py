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

from ganbench.api import primary_metric
from ganbench.report import aggregate as agg
from ganbench.report.collect import Reference, Run
from ganbench.report.model import BEST, TIE, Cell, Column, Group, Table
from ganbench.report.stability import LAST_K, curve_stats, failure_reason

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
    higher_is_better: bool | None   # None: not ranked (a metric whose ideal is a middle value)
    runs: int   # how many completed runs report it (the primary is the most widely reported)
    # What the producing metric declared, as its records carry it (api.Metric.declared):
    rank: float | None = None                         # priority as the primary metric, lower preferred
    mode_collapse: tuple[str, int] | None = None      # (metric, column position) in the mode-collapse table


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
    # The default study's tables come first: they are what `ganbench run --all` made and a reader
    # opens the report for; other studies follow by name.
    for key in sorted(by_key, key=lambda k: (k[4] != "default", str(k[4] or ""), k)):
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
        if first.task != "generation":   # a dataset belongs to one task, so it never splits a group
            title = f"{first.task_table}: {title}"
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
    ideal_valued: set[Protocol] = set()
    ranks: dict[Protocol, float] = {}
    roles: dict[Protocol, tuple[str, int]] = {}
    for run in runs:
        if not run.ok:
            continue
        for name, rec in sorted(run.final_metrics().items()):
            p, extra = _protocol(rec, name), rec.get("extra") or {}
            seen.setdefault(p, []).append(bool(rec.get("higher_is_better")))
            if is_number(extra.get("ideal")):
                ideal_valued.add(p)
            # records without declarations (older runs) simply rank nothing and join no table by role
            if is_number(extra.get("rank")):
                ranks[p] = min(ranks.get(p, math.inf), float(extra["rank"]))
            if is_number(extra.get("mode_collapse")):
                roles.setdefault(p, (str(extra.get("metric") or ""), int(extra["mode_collapse"])))
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
            # the record says which way is better; a majority vote guards against one odd record.
            # A metric with an ideal value in the middle (data-copying C_T: 0) ranks nothing.
            hib = None if p in ideal_valued else sum(flags) * 2 > len(flags)
            cols.append(MetricColumn(key, label, p, hib, len(flags), ranks.get(p), roles.get(p)))
    return cols


def primary_column(cols: list[MetricColumn]) -> MetricColumn | None:
    """The most widely reported column of the value with the lowest declared rank; without any
    declared rank, the most widely reported column."""
    ranks: dict[str, float] = {}
    for c in cols:
        if c.rank is not None:
            ranks[c.protocol.name] = min(ranks.get(c.protocol.name, math.inf), c.rank)
    name = primary_metric(ranks)
    cands = [c for c in cols if name is None or c.protocol.name == name]
    return max(cands, key=lambda c: c.runs) if cands else None


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
    """Mean ± std of the finite values; values that are NaN (a metric undefined for that seed, e.g.
    reverse KL with no high-quality sample) are counted and said, never silently dropped."""
    s = agg.summarize(values)
    undefined = sum(1 for v in values if isinstance(v, float) and not math.isfinite(v))
    if not undefined:
        return Cell(agg.fmt_summary(s, seeds), s.mean, s.std, s.n)
    if s.mean is None:
        return Cell(f"undefined ({undefined} of {undefined})" if undefined > 1 else "undefined", None)
    return Cell(f"{agg.fmt_summary(s)} (n={s.n}, {undefined} undefined)", s.mean, s.std, s.n)


def undefined_notes(label: str, runs: list[Run], col: MetricColumn) -> list[str]:
    """Why a column's value is undefined for some seeds of a row (the metric records the reason)."""
    reasons: dict[str, int] = {}
    for run in runs:
        rec = run.final(col.protocol.name) if run.ok else None
        if rec is None or _protocol(rec, col.protocol.name) != col.protocol:
            continue
        value = rec.get("value")
        if value is None or (is_number(value) and not math.isfinite(value)):
            why = str((rec.get("extra") or {}).get("skipped") or "no reason recorded")
            reasons[why] = reasons.get(why, 0) + 1
    return [f"{col.label} is undefined for {n} seed(s) of {label}: {why}." for why, n in sorted(reasons.items())]


def warn_threshold(runs: list[Run], col: MetricColumn) -> float | None:
    """The level above which the metric itself says a row deserves a flag (``extra["warn_above"]``)."""
    for run in runs:
        rec = run.final(col.protocol.name) if run.ok else None
        if rec is not None and _protocol(rec, col.protocol.name) == col.protocol:
            level = (rec.get("extra") or {}).get("warn_above")
            if is_number(level):
                return float(level)
    return None


FLAG = "⚠"


def flag_cells(table: Table, cols: list[MetricColumn | None], runs: list[Run], offset: int) -> None:
    """Append FLAG to variant cells whose mean exceeds their metric's own warning level."""
    for j, col in enumerate(cols):
        if col is None:
            continue
        level = warn_threshold(runs, col)
        if level is None:
            continue
        flagged = 0
        for row in table.rows[table.reference_rows:]:
            cell = row[offset + j]
            if cell.value is not None and math.isfinite(cell.value) and cell.value > level:
                cell.text += f" {FLAG}"
                flagged += 1
        if flagged:
            table.notes.append(f"{FLAG} in {col.label}: above {level:g}, the level its metric documents as a "
                               "warning (for memorized_percent: the generator reproduces training samples).")


# ---------------------------------------------------------------------------------------------------
# Values the techniques report (api.Technique.reports): result.json's "technique_values", one column each

def technique_value_names(runs: list[Run]) -> list[tuple[str, str]]:
    """``(name, what it is)`` for every value a completed run's techniques reported, sorted by name."""
    found: dict[str, str] = {}
    for run in runs:
        records = (run.result.get("technique_values") or {}) if run.ok else {}
        for name, rec in records.items():
            if isinstance(rec, dict):
                found.setdefault(str(name), f"{rec.get('doc') or 'no description recorded'} "
                                            f"(reported by {rec.get('technique') or '?'})")
    return sorted(found.items())


def technique_value_cell(runs: list[Run], name: str, seeds: int) -> Cell:
    """Mean ± std of the value over completed runs that report it; a dash for rows whose techniques
    do not, and ∞ where every run reports infinity (a privacy budget spent without noise)."""
    values = [float(rec["value"]) for run in runs if run.ok
              for rec in [(run.result.get("technique_values") or {}).get(name)]
              if isinstance(rec, dict) and is_number(rec.get("value"))]
    if values and all(v == math.inf for v in values):
        return Cell("∞", math.inf)
    return stat_cell(values, seeds) if values else Cell(agg.DASH)


# ---------------------------------------------------------------------------------------------------
# Real-data reference rows

def matching_references(references: list[Reference], dataset: str) -> list[Reference]:
    return [r for r in references if r.dataset == dataset]


def reference_cell(references: list[Reference], col: MetricColumn) -> Cell:
    """The reference's value under exactly ``col``'s protocol (same name, extractor, N, split)."""
    for ref in references:
        rec = ref.final(col.protocol.name)
        if rec is None or _protocol(rec, col.protocol.name) != col.protocol:
            continue
        value = rec.get("value")
        if not is_number(value):
            return Cell(agg.DASH)
        if not math.isfinite(value):
            return Cell("undefined")
        se = (rec.get("extra") or {}).get("se")
        if is_number(se) and math.isfinite(se):
            # One real sample has no seed spread; the metric's own standard error says how far from 0 is noise.
            return Cell(f"{agg.fmt_number(float(value))} ± {agg.fmt_number(float(se))} SE", float(value))
        return Cell(agg.fmt_number(float(value)), float(value))
    return Cell(agg.DASH)


def reference_label(references: list[Reference]) -> str:
    return references[0].label if references else "real data"


def reference_groups(references: list[Reference]) -> list[list[Reference]]:
    """The references of one table, one list per row: real data first, then each baseline."""
    rows: dict[tuple[int, str], list[Reference]] = {}
    for ref in references:
        rows.setdefault((ref.kind == "baseline", ref.label), []).append(ref)
    return [rows[key] for key in sorted(rows)]


BASELINE_NOTE = ("A baseline row scores what the task's baseline makes of the same test inputs (bicubic "
                 "upsampling for super-resolution; for unpaired translation, each image left untranslated), with "
                 "the same metric code: a variant that does not beat it has learned nothing worth its training. "
                 "It is not ranked.")


REFERENCE_NOTE = ("The first row scores held-out real data with the same metric code, N and reference split "
                  "as the variants: read every row against it (the floor for distances, the ceiling for "
                  "coverage). It is not ranked. Where a metric has its own standard error (KID), the row "
                  "shows it as '± … SE': an unbiased estimate scatters around 0 by about that much.")


def selected_values(runs: list[Run], col: MetricColumn) -> list[float]:
    """Values of ``col`` for the generator selected on the val split, scored on ``col``'s split."""
    out = []
    for run in runs:
        selected = (run.result.get("selected") or {}) if run.ok else {}
        rec = (selected.get("metrics") or {}).get(col.protocol.name)
        if isinstance(rec, dict) and _protocol(rec, col.protocol.name) == col.protocol and is_number(rec.get("value")):
            out.append(float(rec["value"]))
    return out


def selected_steps(runs: list[Run]) -> Cell:
    steps = [(r.result.get("selected") or {}).get("step") for r in runs if r.ok]
    return _distinct_count(steps, lambda x: f"{x:.0f}")


# ---------------------------------------------------------------------------------------------------
# Marks and ordering

def mark_best(table: Table) -> None:
    for j, col in enumerate(table.columns):
        if col.higher_is_better is None:
            continue
        cells = [row[j] for row in table.rows[table.reference_rows:]
                 if row[j].value is not None and math.isfinite(row[j].value)]
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
        ("checkpoint", ["final generator, and the one selected on the val split (column 'selected'); "
                        "both scored on the reference split"]),
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


def leaderboard(group: Group, runs: list[Run], incomplete: dict[str, int],
                references: list[Reference] = ()) -> Table:
    cols = metric_columns(runs)
    primary = primary_column(cols)
    if primary is not None:  # the ranking metric leads
        cols = [primary] + [c for c in cols if c is not primary]
    refs = matching_references(list(references), group.dataset)
    has_selected = primary is not None and any(selected_values([r], primary) for r in runs)
    kinds = _distinct(r.result.get("memory_kind") for r in runs if r.ok and r.result.get("memory_kind"))
    mem_ranked = len(kinds) <= 1
    selected_cols = ([Column("selected", f"{primary.label} selected on val", primary.higher_is_better, "stat"),
                      Column("selected_step", "selected at step", None, "number")] if has_selected else [])
    metric_cols = [Column(c.key, c.label, c.higher_is_better, "stat") for c in cols]
    reported = technique_value_names(runs)
    reported_cols = [Column(slug(f"technique-{name}"), name, None, "stat") for name, _ in reported]
    columns = ([Column("variant", "variant"), Column("seeds", "seeds", None, "number")]
               + metric_cols[:1] + selected_cols + metric_cols[1:] + reported_cols
               + [Column("train_images_per_second", "train img/s", True, "stat"),
                  Column("peak_memory", "peak memory" + (f" ({kinds[0]})" if len(kinds) == 1 else " (mixed kinds)"),
                         False if mem_ranked else None, "stat"),
                  Column("params", "params G / D", None, "text"),
                  Column("flops_per_step", "FLOPs/step", None, "number"),
                  Column("status", "status", None, "text")])
    built, undefined = [], []
    for row in make_rows(runs):
        done = row.completed
        seeds = len(done)
        metric_cells = [stat_cell(metric_values(row.runs, c), seeds) for c in cols]
        for c in cols:
            undefined += undefined_notes(row.label, row.runs, c)
        cells = [Cell(row.label), Cell(str(seeds), float(seeds), n=seeds)] + metric_cells[:1]
        if has_selected:
            cells += [stat_cell(selected_values(row.runs, primary), seeds), selected_steps(row.runs)]
        cells += metric_cells[1:]
        cells += [technique_value_cell(row.runs, name, seeds) for name, _ in reported]
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
    reference = []
    for row_refs in reference_groups(refs):
        ref_metric = [reference_cell(row_refs, c) for c in cols]
        ref_cells = [Cell(reference_label(row_refs)), Cell(agg.DASH)] + ref_metric[:1]
        ref_cells += [Cell(agg.DASH), Cell(agg.DASH)] if has_selected else []
        ref_cells += ref_metric[1:] + [Cell(agg.DASH)] * (len(reported) + 4) + [Cell(row_refs[0].kind)]
        reference.append(ref_cells)
    notes = [
        f"One row per variant; cells are mean ± std over completed seeds. Sorted by "
        f"{primary.label if primary else 'variant'}"
        + (f" ({'higher' if primary.higher_is_better else 'lower'} is better)." if primary else "."),
        "Diverged and failed runs are excluded from every mean (see the status column and the stability table).",
        MARK_NOTE,
    ]
    if refs:
        notes.insert(0, REFERENCE_NOTE)
    if any(r.kind == "baseline" for r in refs):
        notes.insert(1, BASELINE_NOTE)
    if has_selected:
        notes.append(f"'{primary.label} selected on val': the generator of the evaluation with the best val "
                     f"{primary.protocol.name} (ties go to the later step), scored on the same split as the final "
                     "one; the leading column is the final generator. Ranking uses the final generator.")
    notes += [f"{name}: {what}; not ranked." for name, what in reported]
    if not mem_ranked:
        notes.append("Peak memory mixes measurement kinds (" + ", ".join(kinds) + "): not ranked.")
    notes += undefined
    extra = [("memory", kinds)] if kinds else []
    extra += [("real-data reference", [f"{ref.name}: " + "; ".join(ref.result.get("drawn") or [])
                                       for ref in refs])] if refs else []
    table = Table(f"leaderboard-{group.id}", "leaderboard", group.id, f"Leaderboard: {group.title}",
                  columns, reference + [c for _, c in built], provenance(group, runs, cols, extra), notes,
                  reference_rows=len(reference))
    mark_best(table)
    flag_cells(table, metric_cols_after_selected(cols, has_selected), runs, offset=2)
    return table


def metric_cols_after_selected(cols: list[MetricColumn], has_selected: bool) -> list:
    """``cols`` laid out as the leaderboard places them: None stands for the two selected columns."""
    return cols[:1] + ([None, None] if has_selected else []) + cols[1:]


def mode_collapse(group: Group, runs: list[Run], references: list[Reference] = ()) -> Table | None:
    cols = [c for c in metric_columns(runs) if c.mode_collapse is not None]
    if not cols:
        return None
    # ranked values lead (the table is sorted by its first column), then each metric's declared order
    cols.sort(key=lambda c: (math.inf if c.rank is None else c.rank, c.mode_collapse, c.key))
    columns = ([Column("variant", "variant"), Column("seeds", "seeds", None, "number")]
               + [Column(c.key, c.label, c.higher_is_better, "stat") for c in cols])
    built = []
    for row in make_rows(runs):
        seeds = len(row.completed)
        cells = [Cell(row.label), Cell(str(seeds), float(seeds), n=seeds)]
        cells += [stat_cell(metric_values(row.runs, c), seeds) for c in cols]
        built.append((row, cells))
    built = sort_rows(built, 2, cols[0].higher_is_better)
    refs = matching_references(list(references), group.dataset)
    reference = [[Cell(reference_label(row_refs)), Cell(agg.DASH)] + [reference_cell(row_refs, c) for c in cols]
                 for row_refs in reference_groups(refs)]
    notes = ([REFERENCE_NOTE] if refs else []) + [
        f"Mode coverage of the final generator, mean ± std over completed seeds; sorted by {cols[0].label}.",
        MARK_NOTE]
    for row, _ in built:
        for c in cols:
            notes += undefined_notes(row.label, row.runs, c)
    table = Table(f"mode_collapse-{group.id}", "mode_collapse", group.id, f"Mode collapse: {group.title}",
                  columns, reference + [c for _, c in built], provenance(group, runs, cols), notes,
                  reference_rows=len(reference))
    mark_best(table)
    return table


def stability(group: Group, runs: list[Run], facts: DatasetFacts, references: list[Reference] = ()) -> Table | None:
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
    refs = matching_references(list(references), group.dataset)
    reference = [[Cell(reference_label(row_refs))] + [Cell(agg.DASH)] * 4 + [reference_cell(row_refs, primary)]
                 + [Cell(agg.DASH)] * 5 for row_refs in reference_groups(refs)]
    notes = ([REFERENCE_NOTE] if refs else []) + [
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
                  columns, reference + [c for _, c in built], provenance(group, runs, [primary]), notes,
                  reference_rows=len(reference))
    mark_best(table)
    return table
