"""CSV report format: one file per table (raw numbers, not display text) plus ``provenance.csv``.

Text cells come from plugins and run directories, so a spreadsheet must never read one as a formula:
text beginning with ``=``, ``+``, ``-``, ``@``, a tab or a line break gets a leading ``'`` (OWASP, CSV
injection), and a carriage return inside text becomes a line feed, which the writer quotes. Numbers are
written by :func:`_num` and stay numbers, negative ones included.
"""

from __future__ import annotations

import csv
import io
import os

from ganbench import hookimpl
from ganbench.api import ReportFormat
from ganbench.store import atomic_write_text


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def _text(x) -> str:
    # A bare CR would end the row for most readers, and the writer quotes only LF (lineterminator "\n"):
    # as LF the line break stays inside one quoted cell, where no new row can start with a formula.
    x = ("" if x is None else str(x)).replace("\r\n", "\n").replace("\r", "\n")
    return "'" + x if x.startswith(FORMULA_STARTS) else x


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
                    header += [_text(f"{col.key}_mean"), _text(f"{col.key}_std"), _text(f"{col.key}_n")]
                else:
                    header.append(_text(col.key))
                if col.higher_is_better is not None:
                    header.append(_text(f"{col.key}_mark"))
            rows = []
            for row in table.rows:
                out = []
                for col, cell in zip(table.columns, row):
                    if col.kind == "stat":
                        out += [_num(cell.value), _num(cell.std), "" if cell.n is None else str(cell.n)]
                    elif col.kind == "number" and cell.value is not None:
                        out.append(_num(cell.value))
                    else:
                        out.append(_text(cell.text))
                    if col.higher_is_better is not None:
                        out.append(_text(cell.mark))
                rows.append(out)
            paths.append(self._write(os.path.join(base, f"{table.id}.csv"), [header] + rows))
        prov = [["table", "key", "value"]]
        prov += [[_text(t.id), _text(k), _text(v)] for t in report.tables for k, values in t.provenance for v in values]
        paths.append(self._write(os.path.join(base, "provenance.csv"), prov))
        return paths

    @staticmethod
    def _write(path: str, rows: list[list[str]]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        atomic_write_text(path, buffer.getvalue())
        return path


@hookimpl
def ganbench_register_report_formats(registry):
    registry.add(Csv)
