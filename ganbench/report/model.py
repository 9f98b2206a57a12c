"""The report as data: tables, figures and what collection found. Format plugins only read these.

Everything here is plain data so that a format plugin never recomputes a statistic: it decides how a
cell looks, never what it says. ``to_dict`` gives the JSON-ready form (NaN becomes ``None``, because
JSON has no NaN and a report must stay valid for any reader).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

BEST = "best"
TIE = "tie"


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


@dataclasses.dataclass
class Column:
    key: str                              # stable identifier (csv header stem, json key)
    label: str                            # what a reader sees
    higher_is_better: bool | None = None  # None: the column is not ranked (names, counts, sizes)
    kind: str = "text"                    # "text" | "stat" (mean ± std over seeds) | "number"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Cell:
    text: str                    # plain-text rendering, no markup: formats add their own marks
    value: float | None = None   # the number ranked and sorted on (the mean for a "stat" cell)
    std: float | None = None
    n: int | None = None         # how many seeds the statistic is over
    mark: str = ""               # BEST, TIE or ""

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "value": _clean(self.value), "std": _clean(self.std), "n": self.n,
                "mark": self.mark}


@dataclasses.dataclass
class Table:
    id: str                      # file-name safe, unique in a report
    kind: str                    # "leaderboard" | "mode_collapse" | "stability"
    group: str                   # id of the (study, dataset, budget) group it belongs to
    title: str
    columns: list[Column]
    rows: list[list[Cell]]
    provenance: list[tuple[str, list[str]]]  # (what, distinct values found in the runs)
    notes: list[str]
    # The first ``reference_rows`` rows are not variants (real held-out data, quoted paper numbers):
    # read against, never ranked, never marked best.
    reference_rows: int = 0

    def column_index(self, key: str) -> int:
        return [c.key for c in self.columns].index(key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "group": self.group, "title": self.title,
            "columns": [c.to_dict() for c in self.columns],
            "rows": [{c.key: cell.to_dict() for c, cell in zip(self.columns, row)} for row in self.rows],
            "provenance": [{"key": k, "values": list(v)} for k, v in self.provenance],
            "notes": list(self.notes),
            "reference_rows": self.reference_rows,
        }


@dataclasses.dataclass
class Figure:
    id: str
    group: str
    title: str
    caption: str
    png: bytes = dataclasses.field(repr=False)

    @property
    def filename(self) -> str:
        return f"{self.id}.png"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "group": self.group, "title": self.title, "caption": self.caption,
                "file": f"figures/{self.filename}"}


@dataclasses.dataclass
class Group:
    id: str
    title: str
    study: str
    dataset: str
    budget: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class MetricNote:
    """One line explaining a metric plugin that produced values in the report, with its paper."""

    metric: str                  # the plugin's name
    values: list[str]            # the value names it produced (table columns)
    description: str
    paper: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Report:
    ganbench_version: str
    groups: list[Group]
    tables: list[Table]
    figures: list[Figure]
    runs: int                    # run directories with a readable result
    incomplete: list[str]        # run directories with no result.json yet (running or killed)
    problems: list[str]          # malformed files, one line each, "<run dir>/<file>: <what>"
    metrics: list[MetricNote] = dataclasses.field(default_factory=list)

    def tables_of(self, group: str) -> list[Table]:
        return [t for t in self.tables if t.group == group]

    def figures_of(self, group: str) -> list[Figure]:
        return [f for f in self.figures if f.group == group]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "ganbench_version": self.ganbench_version,
            "collection": {"runs": self.runs, "incomplete": list(self.incomplete),
                           "problems": list(self.problems)},
            "groups": [g.to_dict() for g in self.groups],
            "tables": [t.to_dict() for t in self.tables],
            "figures": [f.to_dict() for f in self.figures],
            "metrics": [m.to_dict() for m in self.metrics],
        }
