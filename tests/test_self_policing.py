"""The project polices itself (datasette-style): every hook has a test that implements it, every
plugin file is declared as an entry point, and every declared entry point exists."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ganbench import hookspecs
from ganbench.study import tomllib

ROOT = Path(__file__).resolve().parent.parent
HOOKS = sorted(name for name in vars(hookspecs) if name.startswith("ganbench_"))


def _entry_points() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["ganbench"]


def test_the_hook_list_is_real():
    assert {"ganbench_register_losses", "ganbench_run_end"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_implemented_by_some_test(hook):
    """A test module that defines (or registers) a function of the hook's name exercises it."""
    implemented = set()
    for path in (ROOT / "tests").rglob("*.py"):
        tree = ast.parse(path.read_text())
        implemented |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        implemented |= {t.attr for n in ast.walk(tree) if isinstance(n, ast.Assign)
                        for t in n.targets if isinstance(t, ast.Attribute)}
    assert hook in implemented, f"no test implements {hook}"


def test_every_plugin_file_is_an_entry_point_and_every_entry_point_a_file():
    declared = set(_entry_points().values())
    files = {f"ganbench_plugins.{p.parent.name}.{p.stem}" for p in (ROOT / "plugins").glob("*/*.py")
             if not p.stem.startswith("_")}
    assert len(files) > 40
    assert files - declared == set(), "plugin files without an entry point in pyproject.toml"
    assert declared - files == set(), "entry points naming no file under plugins/"


def test_every_entry_point_is_named_after_its_module():
    """The entry-point name is the plugin file's name: `--disable-plugin NAME` is what the file says."""
    wrong = {name: target for name, target in _entry_points().items() if target.rsplit(".", 1)[1] != name}
    assert wrong == {}
