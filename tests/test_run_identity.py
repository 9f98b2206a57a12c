"""A run's identity includes the versions of the distributions that provide its plugins: a plugin's
new release trains its runs again (and says so), the same release reuses them."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest

from ganbench import plugins
from ganbench.spec import Budget, RunSpec
from ganbench.testing import invoke_cli as invoke


def test_each_plugin_is_traced_to_its_distribution():
    host = plugins.load()
    ours = importlib.metadata.version("ganbench")
    assert host.distributions_of(architectures="mlp", losses="hinge", techniques=(), datasets="ring8",
                                 metrics=["mode_coverage"]) == {"ganbench": ours}


def test_versions_are_part_of_the_hash_but_not_of_old_names():
    base = RunSpec("mlp", "hinge", "ring8", 0, Budget("steps", 10))
    v1 = RunSpec("mlp", "hinge", "ring8", 0, Budget("steps", 10), plugin_versions={"toy": "1.0"})
    v2 = RunSpec("mlp", "hinge", "ring8", 0, Budget("steps", 10), plugin_versions={"toy": "1.1"})
    assert len({base.dirname, v1.dirname, v2.dirname}) == 3
    assert RunSpec.from_dict(json.loads(json.dumps(v1.to_dict()))) == v1
    # a spec stored before versions were recorded still names the directory it was stored in
    legacy = base.to_dict()
    legacy.pop("plugin_versions")
    assert RunSpec.from_dict(legacy).dirname == base.dirname


def _args(results: Path) -> list[str]:
    return ["run", "--arch", "mlp", "--loss", "hinge", "--dataset", "ring8", "--budget", "steps=2",
            "--metric", "mode_coverage", "--threads", "1", "--quiet", "--results-dir", str(results)]


def _released_as(monkeypatch, version: str) -> None:
    """Every built-in plugin as if ganbench ``version`` were installed."""
    real = plugins.Host.distributions_of
    monkeypatch.setattr(plugins.Host, "distributions_of",
                        lambda self, **named: {d: version if d == "ganbench" else v
                                               for d, v in real(self, **named).items()})


def test_a_version_bump_trains_again_and_says_why(tmp_path, capsys, monkeypatch):
    runs = tmp_path / "runs"
    _released_as(monkeypatch, "1.0")
    code, _, err = invoke(capsys, *_args(tmp_path))
    assert code == 0 and "not reused" not in err
    assert len(list(runs.iterdir())) == 1

    code, _, err = invoke(capsys, *_args(tmp_path))  # same release: the stored run is the answer
    assert code == 0 and "not reused" not in err
    assert len(list(runs.iterdir())) == 1

    _released_as(monkeypatch, "1.1")
    code, _, err = invoke(capsys, *_args(tmp_path))
    assert code == 0
    assert "1 stored run of the same name is not reused" in err and "ganbench 1.0 -> 1.1" in err, err
    trained = sorted(runs.iterdir())
    assert len(trained) == 2 and all((d / "result.json").exists() for d in trained)
    assert sorted(json.loads((d / "spec.json").read_text())["spec"]["plugin_versions"]["ganbench"]
                  for d in trained) == ["1.0", "1.1"]


@pytest.mark.parametrize("change", ["--seeds", "--budget"])
def test_other_changes_are_not_reported_as_version_changes(tmp_path, capsys, change):
    invoke(capsys, *_args(tmp_path))
    args = _args(tmp_path) + ([change, "1"] if change == "--seeds" else [change, "steps=3"])
    code, _, err = invoke(capsys, *args)
    assert code == 0 and "not reused" not in err
