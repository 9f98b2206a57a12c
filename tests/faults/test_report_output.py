"""What `ganbench report` writes for hostile or damaged results (issue 11, items 13 and 14): no CSV cell a
spreadsheet would run as a formula, and one stderr line when runs could not be read."""

from __future__ import annotations

import csv
import math

from faultlib import invoke
from test_report import _metric, write_run

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HOSTILE = ["=HYPERLINK(\"http://evil\";\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tTAB", "\rCR",
           "ok\r=1+1"]  # the last one: a carriage return that would start a new row with a formula


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def test_no_csv_cell_reads_as_a_formula_and_negative_numbers_stay_numbers(tmp_path, capsys):
    results = tmp_path / "results"
    for k, arch in enumerate(HOSTILE):
        for seed in range(2):
            # C_T, the data-copying statistic, is negative for a generator that copies its training data
            write_run(results, arch=arch, loss="nonsaturating", dataset="ring8", seed=seed, commit=HOSTILE[k],
                      final={"modes": _metric(3.0 + k, True), "data_copying": _metric(-0.25 - seed, True)})
    code, out, err = invoke(capsys, "report", "--results-dir", results, "--format", "csv", "--out", tmp_path / "lb")
    assert code == 0, err
    cells = []
    for path in sorted((tmp_path / "lb" / "csv").glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as f:
            cells += [cell for row in csv.reader(f) for cell in row]
    risky = [c for c in cells if c.startswith(FORMULA_STARTS) and not _is_number(c)]
    assert not risky
    for payload in HOSTILE[:-1]:  # every payload is still there, readable, behind the quote
        assert any(c.startswith("'" + payload.replace("\r", "\n")) for c in cells), payload
    assert any(c.startswith("ok\n=1+1") for c in cells)  # one cell, not a new row
    assert "-0.75" in cells  # the mean over seeds: a number, so left as one


def test_report_says_on_stderr_that_runs_could_not_be_read(tmp_path, capsys):
    results = tmp_path / "results"
    write_run(results, arch="mlp", loss="nonsaturating", dataset="ring8", seed=0, final={"modes": _metric(8.0, True)})
    args = ["report", "--results-dir", results, "--format", "md", "--out", tmp_path / "lb"]
    code, _, err = invoke(capsys, *args)
    assert code == 0 and err == ""  # nothing to say about readable runs
    for name, spec, result in (("a", "{", "{}"), ("b", "{}", "null"), ("c", "[]", None)):
        run = results / "runs" / name
        run.mkdir()
        (run / "spec.json").write_text(spec)
        if result is not None:
            (run / "result.json").write_text(result)
    code, _, err = invoke(capsys, *args)
    assert code == 0, err
    assert err.strip().splitlines() == [
        f"ganbench: report: 2 runs unreadable, 1 incomplete (no result.json): see {tmp_path / 'lb' / 'report.md'}"]


def test_report_with_no_format_left_by_only_plugin_is_refused(tmp_path, capsys):
    (tmp_path / "results" / "runs").mkdir(parents=True)
    code, _, err = invoke(capsys, "--only-plugin", "mlp", "report", "--results-dir", tmp_path / "results")
    assert code == 2
    [line] = err.strip().splitlines()
    assert "no report format is loaded" in line and "--only-plugin NAME" in line
    assert not (tmp_path / "results" / "leaderboard").exists()
