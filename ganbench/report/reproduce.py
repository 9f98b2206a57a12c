"""Claim tables: published GAN findings next to what ganbench measures ("claim | paper | ganbench | holds?").

A study declares its claims in ``[[claim]]`` tables (:mod:`ganbench.study`); ``ganbench run`` stores the
study's record in ``<results>/studies/<name>.json`` (:func:`ganbench.study.write_record`). The report
reads only the results directory: every record with claims becomes one table of kind ``reproduce``,
one row per claim, in the record's order.

**Which runs a claim is judged on.** A run counts for a claim when its dataset is the claim's, its
variant (``arch-loss[+technique...]``) is the one named, its budget is the study record's budget for
that dataset (compared as the leaderboard groups compare budgets: kind and numeric value), and its
hyperparameter overrides (``spec.json`` "overrides") are the ones the record gives for that dataset.
The run's stored study label is not looked at: a run requested by two studies is stored once, under
the first study's name. One run per seed is kept (runs that differ only in what they measured or
where they ran are one seed, not two); if a variant still has several hyperparameter sets, the set
with the most completed runs is used and the cell says so. Values are the final metric on completed runs, under one protocol (metric, extractor,
N, reference split): when the matched runs measured the claim's metric under several, the most widely
reported one is used for both sides.

**Verdicts.** Fixed before any run, and never tuned to make a claim pass. ``m ± s`` is the mean and
the standard deviation over seeds (ddof=1) of the claim's metric; an interval is ``[m - s, m + s]``;
two intervals that touch overlap.

* ``greater`` / ``less`` (the variant has a higher / lower mean than ``than``):
  - "holds": the difference of means is in the claimed direction and the intervals do not overlap;
  - "direction only (within seed spread)": in the claimed direction, but the intervals overlap;
  - "does not hold": the difference is opposite to the claim, or zero.
* ``within_spread_of_best`` (the variant is as good as the best of ``among``): the best is the
  candidate with the highest mean, or the lowest for a metric whose record says lower is better
  (``higher_is_better``); candidates are the variants named in ``among`` and the runs' variants that
  match its globs, the claim's own variant included when it matches;
  - "holds": the variant's interval overlaps the best's (the best itself holds);
  - "does not hold": it does not.
* "not run": the variant, the baseline, a variant named in ``among``, or every variant matching an
  ``among`` glob has no ended run (completed, diverged or failed) that matches;
* "not enough runs": runs exist, but the variant or the other side (the baseline, or the best) has
  fewer than 2 completed seeds with a finite value, so there is no spread to judge against.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import math
import os
from typing import Any, Iterable

from ganbench.report import aggregate as agg
from ganbench.report import tables as tb
from ganbench.report.collect import Run, finite
from ganbench.report.model import Cell, Column, Group, Table

HOLDS = "holds"
DIRECTION_ONLY = "direction only (within seed spread)"
DOES_NOT_HOLD = "does not hold"
NOT_ENOUGH = "not enough runs"
NOT_RUN = "not run"
VERDICTS = (HOLDS, DIRECTION_ONLY, DOES_NOT_HOLD, NOT_ENOUGH, NOT_RUN)

MIN_SEEDS = 2
TESTS = ("greater", "less", "within_spread_of_best")
CLAIM_FIELDS = ("id", "claim", "source", "paper", "dataset", "metric", "test", "variant")

COLUMNS = [Column("claim", "claim"), Column("source", "source"), Column("paper", "paper's number"),
           Column("ganbench", "ganbench's number (mean ± std over seeds)"), Column("holds", "holds?")]

VERDICT_NOTE = (
    "Verdicts (fixed rules): m ± s = mean ± std over seeds (ddof=1), interval [m − s, m + s]. "
    "greater/less: 'holds' = difference of means in the claimed direction and the two intervals do not "
    "overlap; 'direction only (within seed spread)' = claimed direction, intervals overlap; 'does not hold' "
    "= opposite direction or equal means. within_spread_of_best: 'holds' = the variant's interval overlaps "
    "the interval of the best mean among the candidates (direction from the metric's higher_is_better), "
    "else 'does not hold'. 'not enough runs' = fewer than 2 completed seeds on a side; 'not run' = no "
    "matching run.")
MATCH_NOTE = (
    "Runs are matched by dataset, variant, the study's budget and hyperparameters for that dataset, "
    "whichever study stored them; one run per seed; final metric of completed runs, one protocol per claim. "
    "The papers' numbers come from their own protocols and budgets: compare directions, not values.")


# ---------------------------------------------------------------------------------------------------
# Verdict rules, on summaries (pure functions: the tests call them directly)

def _interval(s: agg.Summary) -> tuple[float, float]:
    spread = s.std if s.std is not None and math.isfinite(s.std) else 0.0
    return s.mean - spread, s.mean + spread


def overlap(a: agg.Summary, b: agg.Summary) -> bool:
    a_lo, a_hi = _interval(a)
    b_lo, b_hi = _interval(b)
    return a_lo <= b_hi and b_lo <= a_hi


def compare_verdict(test: str, variant: agg.Summary, than: agg.Summary) -> str:
    """``greater`` / ``less``: the variant against its baseline."""
    if variant.n < MIN_SEEDS or than.n < MIN_SEEDS:
        return NOT_ENOUGH
    diff = variant.mean - than.mean
    if test == "less":
        diff = -diff
    if not diff > 0:
        return DOES_NOT_HOLD
    return DIRECTION_ONLY if overlap(variant, than) else HOLDS


def best_of(candidates: dict[str, agg.Summary], higher_is_better: bool) -> str | None:
    """The candidate with the best mean (ties: the first name in sorted order); ``None`` if none has a value."""
    scored = [(name, s) for name, s in sorted(candidates.items()) if s.n > 0]
    if not scored:
        return None
    pick = max if higher_is_better else min
    return pick(scored, key=lambda item: item[1].mean)[0]


def within_verdict(variant: agg.Summary, best: agg.Summary) -> str:
    """``within_spread_of_best``: the variant against the best candidate."""
    if variant.n < MIN_SEEDS or best.n < MIN_SEEDS:
        return NOT_ENOUGH
    return HOLDS if overlap(variant, best) else DOES_NOT_HOLD


# ---------------------------------------------------------------------------------------------------
# Reading the study records

@dataclasses.dataclass
class StudyRecord:
    file: str                                 # "studies/<name>.json", relative to the results directory
    name: str
    budgets: dict[str, dict[str, Any]]        # "default" or dataset -> {"kind", "value"}
    hparams: dict[str, dict[str, Any]] | None  # dataset -> hyperparameters; None = not recorded, any match
    claims: list[dict[str, Any]]

    def budget_for(self, dataset: str) -> dict[str, Any] | None:
        return self.budgets.get(dataset) or self.budgets.get("default")

    def claim_budget(self, claim: dict[str, Any]) -> dict[str, Any] | None:
        """The budget a claim is judged at: its own (a matrix's, :meth:`ganbench.study.Study.claim_setting`),
        else its dataset's (records written before claims carried one)."""
        return claim.get("budget_parsed") or self.budget_for(claim["dataset"])

    def claim_hparams(self, claim: dict[str, Any]) -> dict[str, Any] | None:
        if isinstance(claim.get("hparams"), dict):
            return claim["hparams"]
        return None if self.hparams is None else self.hparams.get(claim["dataset"])


def _check_claim(claim: Any) -> str | None:
    if not isinstance(claim, dict):
        return "not a JSON object"
    for key in CLAIM_FIELDS:
        if not isinstance(claim.get(key), str) or not claim[key]:
            return f"missing or non-text '{key}'"
    if claim["test"] not in TESTS:
        return f"unknown test {claim['test']!r} (valid: {', '.join(TESTS)})"
    if claim["test"] == "within_spread_of_best":
        among = claim.get("among")
        if not isinstance(among, list) or not among or not all(isinstance(a, str) and a for a in among):
            return "'among' must be a non-empty list of variant names or globs"
    elif not isinstance(claim.get("than"), str) or not claim["than"]:
        return f"missing 'than' (test {claim['test']})"
    return None


def _parse_budget(text: Any) -> dict[str, Any] | None:
    from ganbench.errors import UsageError
    from ganbench.spec import Budget
    try:
        b = Budget.parse(text) if isinstance(text, str) else None
    except UsageError:
        return None
    return None if b is None else {"kind": b.kind, "value": b.value}


def read_records(results_dir: str, problems: list[str]) -> list[StudyRecord]:
    """Every ``<results>/studies/*.json`` that has claims, by file name; malformed files and claims
    become lines in ``problems`` and are left out."""
    base = os.path.join(results_dir, "studies")
    if not os.path.isdir(base):
        return []
    out = []
    for fname in sorted(os.listdir(base)):
        if not fname.endswith(".json") or fname.startswith("."):  # .<name>.tmp: a write in progress
            continue
        label = f"studies/{fname}"
        try:
            with open(os.path.join(base, fname), encoding="utf-8") as f:
                raw = json.load(f)
        except (OSError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            problems.append(f"{label}: unreadable ({type(exc).__name__}: {first})")
            continue
        why = None
        if not isinstance(raw, dict):
            why = "not a JSON object"
        elif raw.get("schema") != 1:
            why = f"unsupported schema {raw.get('schema')!r}"
        elif not isinstance(raw.get("name"), str) or not raw["name"]:
            why = "missing 'name'"
        elif not isinstance(raw.get("claims", []), list):
            why = "malformed 'claims'"
        elif not isinstance(raw.get("budgets", {}), dict):
            why = "malformed 'budgets'"
        elif not isinstance(raw.get("hparams", {}), dict) or not all(
                isinstance(v, dict) for v in (raw.get("hparams") or {}).values()):
            why = "malformed 'hparams'"
        if why:
            problems.append(f"{label}: {why}")
            continue
        budgets = {}
        for key, text in sorted((raw.get("budgets") or {}).items()):
            parsed = _parse_budget(text)
            if parsed is None:
                problems.append(f"{label}: budgets.{key}: invalid budget {text!r}")
            else:
                budgets[key] = parsed
        claims, seen = [], set()
        for i, claim in enumerate(raw.get("claims") or [], 1):
            why = _check_claim(claim)
            if why is None and claim["id"] in seen:
                why = f"claim id {claim['id']!r} given twice"
            if why is None and "budget" in claim:
                claim = {**claim, "budget_parsed": _parse_budget(claim["budget"])}
                if claim["budget_parsed"] is None:
                    why = f"invalid budget {claim['budget']!r}"
            if why is None and "hparams" in claim and not isinstance(claim["hparams"], dict):
                why = "malformed 'hparams'"
            if why is None and not claim.get("budget_parsed") and \
                    (budgets.get(claim["dataset"]) or budgets.get("default")) is None:
                why = f"no budget for dataset {claim['dataset']!r}"
            if why:
                problems.append(f"{label}: claims[{i}]: {why}")
                continue
            seen.add(claim["id"])
            claims.append(claim)
        if claims:
            out.append(StudyRecord(label, raw["name"], budgets, raw.get("hparams"), claims))
    return out


# ---------------------------------------------------------------------------------------------------
# Matching runs to a claim

def _budget_key(budget: dict[str, Any]) -> tuple:
    value = budget.get("value")
    if tb.is_number(value):
        return (str(budget.get("kind")), float(value))
    return (str(budget.get("kind")), str(value))


def _canonical(obj: Any) -> str:
    return json.dumps(obj or {}, sort_keys=True, default=str)


def _pool(rec: StudyRecord, claim: dict[str, Any], runs: list[Run]) -> list[Run]:
    """The runs of the claim's dataset at the study's budget (and hyperparameters) for it."""
    dataset = claim["dataset"]
    want = _budget_key(rec.claim_budget(claim))
    hparams = rec.claim_hparams(claim)
    hp = None if hparams is None else _canonical(hparams)
    # spec.json "overrides" = the hyperparameters the study asked for (spec.hparams holds them resolved
    # with the plugins' defaults); a run stored without it is not filtered on them
    return [r for r in runs if r.dataset == dataset and _budget_key(r.budget) == want
            and (hp is None or "overrides" not in r.spec or _canonical(r.spec.get("overrides")) == hp)]


def _one_per_seed(runs: list[Run], metric: str, study: str) -> list[Run]:
    def preference(r: Run):
        has = r.ok and r.final(metric) is not None and finite(r.final(metric).get("value"))
        return (not has, not r.ok, r.study != study, r.name)
    kept: dict[int, Run] = {}
    for run in sorted(runs, key=preference):
        kept.setdefault(run.seed, run)
    return [kept[s] for s in sorted(kept)]


@dataclasses.dataclass
class Side:
    label: str
    runs: list[Run]         # matched runs, one per seed
    note: str = ""          # e.g. which of several hyperparameter sets was used
    summary: agg.Summary = agg.Summary(None, None, 0)


def _elsewhere(variant: str, dataset: str, want: tuple, runs: list[Run]) -> str:
    """Where else this variant was run on this dataset (other budgets or hyperparameters), to say why
    a claim found no run."""
    others = {(_budget_key(r.budget), agg.fmt_budget(r.budget)) for r in runs
              if r.variant == variant and r.dataset == dataset}
    if not others:
        return ""
    texts = [text + (" with other hyperparameters" if key == want else "") for key, text in sorted(others)]
    return f" (stored at {', '.join(texts)})"


def _side(variant: str, pool: list[Run], metric: str, study: str, dataset: str, runs: list[Run],
          want: tuple = ()) -> Side:
    rows = tb.make_rows([r for r in pool if r.variant == variant])
    if not rows:
        return Side(variant, [], _elsewhere(variant, dataset, want, runs))
    note = ""
    if len(rows) > 1:  # pick the most complete set, say so; never pool different hyperparameters
        chosen = max(rows, key=lambda row: len(row.completed))  # first of equals: make_rows sorts them
        note = f" [{chosen.label[len(variant):].strip(' []') or 'hparams'}, 1 of {len(rows)} hyperparameter sets]"
        rows = [chosen]
    return Side(variant, _one_per_seed(rows[0].runs, metric, study), note)


def _column(metric: str, runs: list[Run]) -> tb.MetricColumn | None:
    cols = [c for c in tb.metric_columns(runs) if c.protocol.name == metric]
    return max(cols, key=lambda c: c.runs) if cols else None  # first of equals: metric_columns is sorted


def _fill(side: Side, col: tb.MetricColumn | None) -> Side:
    side.summary = agg.summarize(tb.metric_values(side.runs, col) if col is not None else [])
    return side


def _side_text(side: Side, metric: str) -> str:
    if not side.runs:
        return f"{side.label}: not run{side.note}"
    s = side.summary
    if s.n == 0:
        done = sum(r.ok for r in side.runs)
        return f"{side.label}{side.note}: no {metric} value ({len(side.runs)} runs, {done} completed)"
    return f"{side.label}{side.note}: {agg.fmt_summary(s)} ({s.n} seed{'' if s.n == 1 else 's'})"


def _glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def judge(rec: StudyRecord, claim: dict[str, Any], runs: list[Run]) -> tuple[Cell, str, list[Run], str]:
    """One claim: (the ganbench cell, the verdict, the runs it used, a note on what was compared)."""
    pool = _pool(rec, claim, runs)
    metric, variant = claim["metric"], claim["variant"]
    want = _budget_key(rec.claim_budget(claim))
    side = _side(variant, pool, metric, rec.name, claim["dataset"], runs, want)
    budget = agg.fmt_budget(rec.claim_budget(claim))
    if claim["test"] == "within_spread_of_best":
        among = claim["among"]
        names = {a for a in among if not _glob(a)}
        names |= {r.variant for r in pool if any(fnmatch.fnmatchcase(r.variant, a) for a in among if _glob(a))}
        others = {n: (side if n == variant else _side(n, pool, metric, rec.name, claim["dataset"], runs, want))
                  for n in sorted(names)}
        used = side.runs + [r for n, o in others.items() if n != variant for r in o.runs]
        col = _column(metric, used)
        _fill(side, col)
        for o in others.values():
            if o is not side:
                _fill(o, col)
        hib = bool(col.higher_is_better) if col is not None else True
        missing = [n for n in sorted(names) if not others[n].runs]
        globs_empty = [a for a in among if _glob(a) and not any(fnmatch.fnmatchcase(n, a) and others[n].runs
                                                                  for n in names)]
        best = best_of({n: o.summary for n, o in others.items()}, hib)
        what = f"best of {', '.join(among)}"
        if not side.runs or missing or globs_empty or not names:
            verdict = NOT_RUN
        elif best is None:
            verdict = NOT_ENOUGH
        else:
            verdict = within_verdict(side.summary, others[best].summary)
        run = [n for n in sorted(names) if others[n].runs]
        if best is not None:
            rest = f"{what} ({len(run)} variant{'' if len(run) == 1 else 's'} run): {_side_text(others[best], metric)}"
        elif run:
            rest = f"{what}: " + "; ".join(_side_text(others[n], metric) for n in run)
        else:
            rest = f"{what}: no variant run"
        if missing:
            rest += f"; not run: {', '.join(missing)}"
        if globs_empty and run:
            rest += f"; no run matches {', '.join(globs_empty)}"
        text = f"{_side_text(side, metric)} vs {rest}"
        direction = ("direction from the metric record" if col is None
                     else "higher is better" if hib else "lower is better")
        compared = f"{variant} vs the best ({direction}) of {', '.join(among)}"
    else:
        base = _side(claim["than"], pool, metric, rec.name, claim["dataset"], runs, want)
        used = side.runs + base.runs
        col = _column(metric, used)
        _fill(side, col)
        _fill(base, col)
        if not side.runs or not base.runs:
            verdict = NOT_RUN
        else:
            verdict = compare_verdict(claim["test"], side.summary, base.summary)
        text = f"{_side_text(side, metric)} vs {_side_text(base, metric)}"
        compared = f"{variant} {'>' if claim['test'] == 'greater' else '<'} {claim['than']}"
    protocol = ""
    if col is not None:
        p = col.protocol
        parts = ([f"extractor {p.extractor}"] if p.extractor else []) + [f"N={p.num_samples}"] \
            + ([f"reference split {p.reference_split}"] if p.reference_split else [])
        protocol = f"; {col.label}: {', '.join(parts)}"
    note = f"{claim['id']}: {metric} on {claim['dataset']} at {budget}, test {claim['test']}: {compared}{protocol}."
    s = side.summary
    return Cell(text, s.mean, s.std, s.n), verdict, used, note


# ---------------------------------------------------------------------------------------------------
# Tables

def _distinct(values: Iterable[Any]) -> list[str]:
    return sorted({str(v) for v in values if v is not None})


def claim_table(rec: StudyRecord, group_id: str, table_id: str, runs: list[Run]) -> Table:
    rows, notes, used = [], [], {}
    for claim in rec.claims:
        cell, verdict, matched, note = judge(rec, claim, runs)
        rows.append([Cell(claim["claim"]), Cell(claim["source"]), Cell(claim["paper"]), cell, Cell(verdict)])
        notes.append(note)
        used.update({r.name: r for r in matched})
    matched = [used[k] for k in sorted(used)]
    budgets = list(dict.fromkeys(f"{c['dataset']}: {agg.fmt_budget(rec.claim_budget(c))}" for c in rec.claims))
    vers = [r.spec.get("versions") or {} for r in matched]
    env = [r.spec.get("env") or {} for r in matched]
    provenance = [
        ("study record", [rec.file]),
        ("budget", budgets),
        ("runs", [f"{len(matched)} matched ({sum(r.ok for r in matched)} completed)"]),
        ("ganbench", _distinct(v.get("ganbench") for v in vers)),
        ("torch", _distinct(v.get("torch") for v in vers)),
        ("device", _distinct(f"{r.inner.get('device')} {r.inner.get('precision')}" for r in matched)),
        ("git commit", _distinct(e.get("git_commit") or "unknown" for e in env)),
        ("checkpoint", ["final (metrics of the last step, from result.json 'final')"]),
    ]
    return Table(table_id, "reproduce", group_id, f"Published claims vs ganbench (study {rec.name})",
                 list(COLUMNS), rows,
                 [(k, v) for k, v in provenance if v], [VERDICT_NOTE, MATCH_NOTE] + notes)


def claims_section(results_dir: str, runs: list[Run], problems: list[str] | None = None,
                   taken: Iterable[str] = ()) -> tuple[list[Group], list[Table]]:
    """One group and one ``reproduce`` table per study record with claims (group ids avoid ``taken``)."""
    problems = problems if problems is not None else []
    used = set(taken)
    groups, tables = [], []
    for rec in read_records(results_dir, problems):
        gid, i = tb.slug(f"claims-{rec.name}"), 2
        base = gid
        while gid in used:
            gid, i = f"{base}-{i}", i + 1
        used.add(gid)
        groups.append(Group(gid, f"Reproduced claims (study {rec.name})", rec.name, "", {}))
        tables.append(claim_table(rec, gid, f"reproduce-{gid[len('claims-'):]}"
                                  if gid.startswith("claims-") else f"reproduce-{gid}", runs))
    return groups, tables


def claim_tables(results_dir: str, runs: list[Run], problems: list[str] | None = None) -> list[Table]:
    """The ``reproduce`` tables of every study record in ``results_dir`` that has claims.

    :param problems: malformed records are appended here, one line each (never raised).
    """
    return claims_section(results_dir, runs, problems)[1]
