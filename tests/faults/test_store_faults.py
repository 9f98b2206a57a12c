"""Stored records that cannot be read (issue 11, item 1): a sweep never stops on one, and the report
names it."""

import pytest

from faultlib import cli_args, invoke, numbers, run_dirs, spec
from ganbench import plugins, runner, store
from ganbench.report.collect import collect_runs
from ganbench.spec import Budget

CORRUPT = {
    "truncated": b'{"schema": 1, "status": "compl',
    "random bytes": bytes(range(256))[::-7] * 3,
    "empty": b"",
    "null": b"null",
    "a list": b"[1, 2]",
    "no status": b'{"schema": 1, "final": {}}',
    "unknown status": b'{"schema": 1, "status": "running"}',
    "not UTF-8": '{"status": "completed", "x": "é"}'.encode("latin-1"),
}


@pytest.fixture(scope="module")
def host():
    return plugins.load()


@pytest.mark.parametrize("kind", CORRUPT)
def test_an_unreadable_result_is_set_aside_and_the_run_trained_again(tmp_path, host, capsys, kind):
    quick = spec(budget=Budget("steps", 4), metrics=())
    first = runner.execute(quick, tmp_path, host=host)
    run_dir = run_dirs(tmp_path)[0]
    (run_dir / "result.json").write_bytes(CORRUPT[kind])
    capsys.readouterr()

    again = runner.execute(quick, tmp_path, host=host)

    assert numbers(again) == numbers(first)
    assert store.read_json(run_dir / "result.json") == again
    aside = list(run_dir.glob("result.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == CORRUPT[kind]
    lines = [line for line in capsys.readouterr().err.splitlines() if "result.json" in line]
    assert len(lines) == 1 and str(run_dir / "result.json") in lines[0] and "trace" not in lines[0].lower()


@pytest.mark.parametrize("vectorize", ["1", "auto"])
def test_a_sweep_goes_on_past_an_unreadable_result(tmp_path, capsys, vectorize):
    args = [*cli_args(tmp_path, "--seeds", "0-2", "--vectorize-seeds", vectorize), "--budget", "steps=10"]
    code, out, err = invoke(capsys, *args)
    assert code == 0, err
    first, second, third = run_dirs(tmp_path)
    (first / "result.json").write_bytes(CORRUPT["random bytes"])
    (second / "result.json").write_bytes(CORRUPT["null"])
    (third / "result.json").unlink()  # an unfinished run after the broken ones

    code, out, err = invoke(capsys, *args)

    assert code == 0, err
    assert out.count("completed\t") == 3
    for run_dir in (first, second, third):
        assert store.RunDir(run_dir.parent.parent, run_dir.name).result()["status"] == "completed"
    assert "internal error" not in err
    assert str(first / "result.json") in err and str(second / "result.json") in err


@pytest.mark.parametrize("kind", CORRUPT)
def test_the_report_counts_an_unreadable_result_as_a_problem_naming_it(tmp_path, host, capsys, kind):
    for seed in (0, 1):
        runner.execute(spec(seed=seed, budget=Budget("steps", 4), metrics=()), tmp_path, host=host)
    broken = run_dirs(tmp_path)[0]
    (broken / "result.json").write_bytes(CORRUPT[kind])

    collection = collect_runs(str(tmp_path))
    assert len(collection.runs) == 1
    assert [p for p in collection.problems if p.startswith(f"{broken.name}/result.json")]

    code, out, err = invoke(capsys, "report", "--results-dir", tmp_path, "--out", tmp_path / "report",
                            "--format", "markdown")
    assert code == 0, err
    assert f"{broken.name}/result.json" in (tmp_path / "report" / "report.md").read_text().replace("\\_", "_")
