"""The plugin author's guide (docs/plugins.md) and api.py keep up with the code."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from ganbench import api, hookspecs, testing

GUIDE = (Path(__file__).resolve().parent.parent / "docs" / "plugins.md").read_text(encoding="utf-8")
BASES = [api.Plugin, api.Architecture, api.Loss, api.Technique, api.Dataset, api.Metric, api.ReportFormat,
         api.EvaluationContext]


def _public_methods(cls):
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        func = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
        if inspect.isfunction(func):
            yield name, func


@pytest.mark.parametrize("hook", [n for n in vars(hookspecs) if n.startswith("ganbench_")])
def test_every_hook_is_in_the_guide(hook):
    assert f"`{hook}(" in GUIDE, f"docs/plugins.md does not describe the hook {hook}"


@pytest.mark.parametrize("cls", BASES, ids=[c.__name__ for c in BASES])
def test_every_public_base_class_method_is_documented(cls):
    missing = [name for name, func in _public_methods(cls) if not (func.__doc__ or "").strip()]
    assert not missing, f"api.{cls.__name__} methods without a docstring: {missing}"


@pytest.mark.parametrize("cls", BASES[1:-1], ids=[c.__name__ for c in BASES[1:-1]])
def test_every_base_class_and_method_is_in_the_guide(cls):
    assert f"### `{cls.__name__}`" in GUIDE
    absent = [name for name, _ in _public_methods(cls) if f"`{name}(" not in GUIDE and f"{name}(" not in GUIDE]
    assert not absent, f"docs/plugins.md does not mention api.{cls.__name__}.{absent}"


def test_every_contract_is_in_the_guide():
    absent = [c.__name__ for c in testing.CONTRACTS.values() if f"`{c.__name__}`" not in GUIDE]
    assert not absent, f"docs/plugins.md does not list {absent}"
