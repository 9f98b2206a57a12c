"""Hyperparameters have a schema (issue 12, item 2): what a run's plugins declare is all it accepts.

An unknown key or a value of the wrong type or range is refused before any run, with exit 2 and one line
naming the closest valid names and all the valid ones; a study key is valid when at least one planned run
declares it; ``ganbench list ... --json`` shows each plugin's hyperparameters with their docs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ganbench import api, plugins
from ganbench.testing import invoke_cli as invoke

KINDS = ("architectures", "losses", "techniques")


@pytest.fixture(scope="module")
def host():
    return plugins.load()


def run_args(results: Path, *extra: str) -> list[str]:
    return ["run", "--arch", "mlp", "--loss", "wgan_gp", "--dataset", "ring8", "--budget", "steps=2",
            "--metric", "mode_coverage", "--threads", "1", "--quiet", "--results-dir", str(results), *extra]


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# ---------------------------------------------------------------------------------------------------
# --hparam on the command line

def test_a_misspelt_hparam_exits_2_naming_the_close_name_and_the_valid_ones_and_writes_nothing(tmp_path, capsys):
    results = tmp_path / "results"
    code, _, err = invoke(capsys, *run_args(results, "--hparam", "lp_lamda=5"))
    line = one_line(err)
    assert code == 2
    assert "--hparam lp_lamda=5: unknown hyperparameter for mlp-wgan_gp on ring8" in line
    assert "did you mean gp_lambda?" in line
    valid = line.split("valid: ", 1)[1].split(", ")
    assert {"gp_lambda", "lr_g", "n_critic", "hidden", "batch_size"} <= set(valid)
    assert "lp_lamda" not in valid and "ema_decay" not in valid  # only what this run declares
    assert not results.exists()


def test_a_misspelt_core_key_is_refused_too(tmp_path, capsys):
    code, _, err = invoke(capsys, *run_args(tmp_path / "r", "--hparam", "lr_gg=1e-4"))
    assert code == 2 and "did you mean lr_g" in one_line(err)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("override, expected", [
    ("gp_lambda=abc", "gp_lambda must be a finite number (wgan_gp's default is 10.0)"),
    ("gp_lambda=-1", "gp_lambda must be a number >= 0"),
    ("batch_size=true", "batch_size must be a whole number"),
    ("hidden=1.5", "hidden must be a whole number"),
    ("reuse_fake_for_generator=2", "reuse_fake_for_generator must be true or false"),
])
def test_a_wrong_type_or_range_exits_2_and_writes_nothing(tmp_path, capsys, override, expected):
    results = tmp_path / "results"
    code, _, err = invoke(capsys, *run_args(results, "--hparam", override))
    assert code == 2 and expected in one_line(err)
    assert not results.exists()


def test_a_technique_key_is_valid_exactly_when_the_technique_is_planned(tmp_path, capsys):
    code, _, err = invoke(capsys, *run_args(tmp_path / "r", "--hparam", "ema_decay=0.99", "--dry-run"))
    assert code == 2 and "unknown hyperparameter" in one_line(err)
    code, out, err = invoke(capsys, *run_args(tmp_path / "r", "--technique", "ema", "--hparam", "ema_decay=0.99",
                                              "--dry-run"))
    assert code == 0, err
    assert "mlp-wgan_gp+ema-ring8" in out


def test_real_label_is_declared_by_losses_that_accept_label_smoothing(tmp_path, capsys):
    args = ["run", "--arch", "mlp", "--dataset", "ring8", "--budget", "steps=2", "--dry-run",
            "--results-dir", str(tmp_path / "r"), "--hparam", "real_label=0.8"]
    code, _, err = invoke(capsys, *args, "--loss", "nonsaturating")
    assert code == 0, err
    code, _, err = invoke(capsys, *args, "--loss", "hinge")
    assert code == 2 and "real_label" in one_line(err)


# ---------------------------------------------------------------------------------------------------
# Study files

STUDY = """[study]
name = "schema"
[matrix]
archs = ["mlp"]
losses = {losses}
datasets = ["ring8"]
[budget]
default = "steps=2"
"""


def write_study(tmp_path: Path, losses: list[str], extra: str) -> Path:
    path = tmp_path / "schema.toml"
    path.write_text(STUDY.format(losses=json.dumps(losses)) + extra)
    return path


def test_a_study_key_that_only_some_runs_declare_is_accepted(tmp_path, capsys):
    path = write_study(tmp_path, ["nonsaturating", "r1"], "[hparams.ring8]\nr1_gamma = 1.0\n")
    code, out, err = invoke(capsys, "run", "--study", path, "--dry-run", "--results-dir", tmp_path / "r")
    assert code == 0, err
    assert "mlp-r1-ring8" in out and "mlp-nonsaturating-ring8" in out


def test_a_study_key_no_run_declares_is_refused_naming_file_and_key(tmp_path, capsys):
    path = write_study(tmp_path, ["nonsaturating"], "[hparams.ring8]\nr1_gamma = 1.0\n")
    code, _, err = invoke(capsys, "run", "--study", path, "--dry-run", "--results-dir", tmp_path / "r")
    line = one_line(err)
    assert code == 2
    assert f"study {path}: hparams.ring8.r1_gamma: unknown hyperparameter" in line
    assert "valid: " in line and "r1_gamma" not in line.split("valid: ", 1)[1]


def test_a_misspelt_study_key_is_refused_with_the_close_name(tmp_path, capsys):
    path = write_study(tmp_path, ["wgan_gp"], "[hparams]\nlp_lamda = 5.0\n")
    results = tmp_path / "r"
    code, _, err = invoke(capsys, "run", "--study", path, "--results-dir", results)
    line = one_line(err)
    assert code == 2
    assert f"study {path}: hparams.lp_lamda: unknown hyperparameter" in line and "did you mean gp_lambda?" in line
    assert not results.exists()


def test_every_builtin_study_passes_the_schema(host):
    from ganbench import preflight, study, sweep
    checked = 0
    for name in study.builtin_names():
        s = study.load(name)
        if not (s.hparams or s.dataset_hparams):
            continue
        s.run.pop("jobs", None)  # how a sweep is executed, not part of a run (as `ganbench run` does)
        runs = sweep.expand(s, host, {"device": "cpu"}, max_runs=None).runs
        preflight.check_hparams(host, s, runs, {})
        checked += 1
    assert checked >= 4  # default, full, reproduce, smoke


# ---------------------------------------------------------------------------------------------------
# Declarations: listed, documented, and consistent

@pytest.mark.parametrize("kind", KINDS)
def test_list_json_shows_every_declared_hyperparameter_with_a_doc(capsys, host, kind):
    code, out, err = invoke(capsys, "list", kind, "--json")
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)}
    assert set(rows) == {cls.name for cls in host.registries[kind]}
    listed_any = False
    for cls in host.registries[kind]:
        listed = {h["name"]: h for h in rows[cls.name]["hparams"]}
        assert set(cls.defaults) <= set(listed), cls.name
        for name, default in cls.defaults.items():
            assert listed[name]["default"] == (list(default) if isinstance(default, tuple) else default)
            assert listed[name]["doc"].strip(), f"{cls.name}.{name} has no doc"
            assert listed[name]["type"] in ("bool", "int", "float", "str", "list")
            listed_any = True
    assert listed_any or kind != "architectures"


@pytest.mark.parametrize("kind", KINDS)
def test_every_builtin_hyperparameter_has_a_one_line_doc_and_a_valid_default(host, kind):
    for cls in host.registries[kind]:
        assert set(cls.hparam_docs) <= set(cls.defaults), f"{cls.name}: docs for undeclared keys"
        assert set(cls.hparam_limits) <= set(cls.defaults), f"{cls.name}: limits for undeclared keys"
        for h in cls.hparam_schema():
            assert h.doc.strip() and "\n" not in h.doc, f"{cls.name}.{h.name}: no one-line doc"
            if h.default is not None:
                assert h.problem(h.default) is None, f"{cls.name}.{h.name}: default {h.default!r} is invalid"


def test_every_core_key_is_declared_with_a_doc_and_read_by_the_trainer():
    source = (Path(api.__file__).parent / "training.py").read_text()
    for h in api.CORE_HPARAMS:
        assert h.doc.strip() and h.type in (bool, int, float)
        assert f'"{h.name}"' in source, f"{h.name} is declared as a core key but the trainer never reads it"


def test_no_builtin_plugin_reapplies_its_own_defaults():
    root = Path(api.__file__).parent.parent / "plugins"
    offenders = [str(p) for p in root.rglob("*.py") if "**self.defaults" in p.read_text()
                 or "self.defaults[" in p.read_text()]
    assert offenders == []


def test_resolve_hparams_applies_every_declared_default_once(host):
    from ganbench import runner
    from ganbench.spec import Budget, RunSpec
    spec = RunSpec("mlp", "wgan_gp", "ring8", 0, Budget("steps", 1), techniques=("ema",), hparams={"hidden": 7})
    resolved = runner.resolve_hparams(host, spec)
    assert resolved["hidden"] == 7 and resolved["gp_lambda"] == 10.0 and resolved["ema_decay"] == 0.999
    assert resolved["n_critic"] == 5  # the loss's default replaces the architecture's, as merged


def test_a_plugin_with_defaults_only_still_gets_a_schema():
    class Bare(api.Loss):
        name = "bare"
        defaults = {"n_critic": 3, "my_weight": 2, "my_mode": "a"}

    schema = {h.name: h for h in Bare.hparam_schema()}
    assert schema["n_critic"].doc == api.CORE_HPARAM_NAMES["n_critic"].doc  # a core key needs no doc
    assert schema["n_critic"].problem(0) == "a whole number >= 1"
    assert schema["my_weight"].type is int and schema["my_weight"].problem(1.5) == "a whole number"
    assert schema["my_mode"].problem(3) == "text" and schema["my_mode"].doc == ""
    merged = api.hparam_schema([Bare])
    assert merged["n_critic"].default == 3 and merged["lr_g"].default is None and "my_mode" in merged


@pytest.mark.parametrize("param, good, bad", [
    (api.HParam("x", 0.5, low=0, high=1, high_open=True), [0, 0.0, 0.99], [1, 1.0, True, "0.5", float("nan")]),
    (api.HParam("n", 2, low=1), [1, 10], [0, 1.5, True]),
    (api.HParam("flag", False), [True, False], [0, 1, "true"]),
    (api.HParam("mode", "a", choices=("a", "b")), ["a", "b"], ["c", 1]),
])
def test_hparam_problem(param, good, bad):
    assert all(param.problem(v) is None for v in good)
    assert all(param.problem(v) for v in bad)
