"""CSV report format: one file per table (raw numbers, not display text) plus ``provenance.csv``."""

from __future__ import annotations

import csv
import os

from ganbench import hookimpl
from ganbench.api import ReportFormat


def _num(x) -> str:
    if x is None:
        return ""
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 2 ** 53 else repr(x)  # counts read as counts


class Csv(ReportFormat):
    """One CSV per table: a stat column becomes <key>_mean, <key>_std, <key>_n; ranked columns add <key>_mark."""

    name = "csv"
    extension = "csv"

    def render(self, report, out_dir: str) -> list[str]:
        base = os.path.join(out_dir, "csv")
        os.makedirs(base, exist_ok=True)
        paths = []
        for table in report.tables:
            header = []
            for col in table.columns:
                if col.kind == "stat":
                    header += [f"{col.key}_mean", f"{col.key}_std", f"{col.key}_n"]
                else:
                    header.append(col.key)
                if col.higher_is_better is not None:
                    header.append(f"{col.key}_mark")
            rows = []
            for row in table.rows:
                out = []
                for col, cell in zip(table.columns, row):
                    if col.kind == "stat":
                        out += [_num(cell.value), _num(cell.std), "" if cell.n is None else str(cell.n)]
                    elif col.kind == "number" and cell.value is not None:
                        out.append(_num(cell.value))
                    else:
                        out.append(cell.text)
                    if col.higher_is_better is not None:
                        out.append(cell.mark)
                rows.append(out)
            paths.append(self._write(os.path.join(base, f"{table.id}.csv"), [header] + rows))
        prov = [["table", "key", "value"]]
        prov += [[t.id, k, v] for t in report.tables for k, values in t.provenance for v in values]
        paths.append(self._write(os.path.join(base, "provenance.csv"), prov))
        return paths

    @staticmethod
    def _write(path: str, rows: list[list[str]]) -> str:
        with open(path, "w", encoding="utf-8", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)
        return path


@hookimpl
def ganbench_register_report_formats(registry):
    registry.add(Csv)
