"""A broken third-party plugin (issue 11, items 10 and 12): `run` refuses with one line naming the plugin,
its distribution and ``--disable-plugin NAME``; `report` and `plugins` still work, and say it is broken.

The plugins here are real distributions: a ``*.dist-info`` directory with an ``entry_points.txt`` on
sys.path is exactly what ``pip install`` leaves, and importlib.metadata finds it the same way.
"""

from __future__ import annotations

import json
import sys

import pytest

from faultlib import invoke
from ganbench import plugins
from test_bad_input import RUN, refused

BROKEN = {
    "import fails": "import nosuch_module_of_a_missing_dependency\n",
    "hook raises": ("from ganbench import hookimpl\n"
                    "from ganbench.api import Loss\n"
                    "class Half(Loss):\n"
                    "    name = 'half_registered'\n"
                    "@hookimpl\n"
                    "def ganbench_register_losses(registry):\n"
                    "    registry.add(Half)\n"
                    "    raise RuntimeError('the plugin\\'s own bug\\nwith a second line')\n"),
    "hook raises a usage error": ("from ganbench import hookimpl\n"
                                  "@hookimpl\n"
                                  "def ganbench_register_metrics(registry):\n"
                                  "    registry.add(object)\n"),
}


@pytest.fixture(params=BROKEN)
def broken(request, tmp_path, monkeypatch) -> str:
    """A distribution ``ganbench-broken 0.3`` whose entry point ``broken`` is broken as the param says."""
    module = f"ganbench_broken_{request.param_index}"
    site = tmp_path / "site"
    info = site / "ganbench_broken-0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ganbench-broken\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[ganbench]\nbroken = {module}\n")
    (site / f"{module}.py").write_text(BROKEN[request.param])
    monkeypatch.syspath_prepend(str(site))
    yield module
    sys.modules.pop(module, None)


def test_run_refuses_naming_the_plugin_its_distribution_and_the_way_out(tmp_path, capsys, broken):
    line = refused(capsys, tmp_path, [*RUN, "--results-dir", str(tmp_path / "results")], 2,
                   "--disable-plugin broken")
    assert f"plugin 'broken' ({broken}) from distribution ganbench-broken 0.3" in line
    code, _, err = invoke(capsys, "--disable-plugin", "broken", *RUN, "--results-dir", tmp_path / "results",
                          "--dry-run")
    assert code == 0, err


def test_plugins_lists_it_as_broken(capsys, broken):
    code, out, err = invoke(capsys, "plugins")
    assert code == 0, err
    line = next(line for line in out.splitlines() if line.startswith("broken\t"))
    assert "ganbench-broken 0.3\tBROKEN: plugin 'broken'" in line
    assert any(line.startswith("mlp\t") for line in out.splitlines())
    code, out, _ = invoke(capsys, "plugins", "--json")
    by_name = {p["name"]: p for p in json.loads(out)["plugins"]}
    assert by_name["broken"]["broken"] and by_name["broken"]["provides"] == {}
    assert by_name["mlp"]["broken"] is None


def test_report_on_stored_runs_works_without_it(tmp_path, capsys, broken):
    (tmp_path / "results" / "runs").mkdir(parents=True)
    code, out, err = invoke(capsys, "report", "--results-dir", tmp_path / "results", "--format", "md",
                            "--out", tmp_path / "lb")
    assert code == 0, err
    assert out.split() == [str(tmp_path / "lb" / "report.md")]
    [warning] = err.strip().splitlines()
    assert "left out: plugin 'broken'" in warning and "--disable-plugin broken" in warning


def test_what_a_plugin_registered_before_it_raised_is_not_kept(broken):
    host = plugins.load(strict=False)
    assert "broken" in host.broken
    assert "half_registered" not in host.losses and "mlp" in host.architectures
    with pytest.raises(Exception, match="unknown loss 'half_registered'.*broken: broken"):
        host.losses.get("half_registered")

