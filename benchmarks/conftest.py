"""pytest hooks of the speed benchmarks: the ``speed`` fixture, the machine in pytest-benchmark's
machine_info, and the table of ratios at the end of the run (see :mod:`speedtable`)."""

from __future__ import annotations

import pytest

from speedtable import SpeedTable, machine

_TABLE = SpeedTable()


@pytest.fixture(scope="session")
def speed() -> SpeedTable:
    return _TABLE


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["ganbench"] = machine()


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's own tables
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not (_TABLE.rows or _TABLE.skipped):
        return
    terminalreporter.write_sep("=", "ganbench speed ratios")
    for line in _TABLE.markdown():
        terminalreporter.write_line(line)
