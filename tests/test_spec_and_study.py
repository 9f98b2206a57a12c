"""Run specifications, budgets, seeds and study files: parsing and the one-line errors."""

import dataclasses

import pytest

from ganbench import study
from ganbench.errors import UsageError
from ganbench.spec import Budget, RunSpec, parse_hparam, parse_seeds


def test_budget_parsing_and_errors():
    assert Budget.parse("kimg=50") == Budget("kimg", 50.0)
    assert Budget.parse("1500") == Budget("steps", 1500)
    assert Budget.parse("flops=2e12") == Budget("flops", 2e12)
    for bad in ("kimg=-1", "minutes=3", "steps=1.5", "kimg=", "abc"):
        with pytest.raises(UsageError, match="steps, kimg, seconds, flops|whole number"):
            Budget.parse(bad)


def test_seeds_and_hparams():
    assert parse_seeds("0-3") == (0, 1, 2, 3)
    assert parse_seeds("4,1,4") == (4, 1)
    with pytest.raises(UsageError, match="non-negative integers"):
        parse_seeds("a,b")
    assert parse_hparam("lr_g=1e-4") == ("lr_g", 1e-4)
    assert parse_hparam("betas=[0.0, 0.9]") == ("betas", [0.0, 0.9])
    with pytest.raises(UsageError, match="NAME=VALUE"):
        parse_hparam("lr_g")


def test_spec_hash_is_stable_and_sensitive():
    a = RunSpec("dcgan", "hinge", "mnist5k", 0, Budget("kimg", 5), hparams={"lr_g": 1e-4, "beta1": 0.5})
    same = RunSpec("dcgan", "hinge", "mnist5k", 0, Budget("kimg", 5), hparams={"beta1": 0.5, "lr_g": 1e-4},
                   study="other-label")
    assert a.content_hash() == same.content_hash()
    assert RunSpec.from_dict(a.to_dict()) == a
    for change in (dict(seed=1), dict(budget=Budget("kimg", 6)), dict(threads=2), dict(techniques=("ema",))):
        assert RunSpec(**{**a.__dict__, **change}).content_hash() != a.content_hash()
    assert a.dirname.startswith("dcgan-hinge-mnist5k-s0-")


def test_an_empty_metrics_list_is_refused_not_a_study_of_runs_that_measure_nothing():
    text = '[study]\nname="x"\n[matrix]\ndatasets=["ring8"]\nmetrics=[]\n'
    with pytest.raises(UsageError, match=r"metrics: empty: its runs would measure nothing"):
        study.parse(text, "x.toml")
    assert study.parse(text.replace("metrics=[]\n", ""), "x.toml").metrics == ["*"]


def test_builtin_studies_parse():
    names = study.builtin_names()
    for required in ("default", "smoke", "mode-collapse", "stability", "cifar10"):
        assert required in names
    for name in names:
        s = study.load(name)
        for dataset in s.datasets:
            assert s.budget_for(dataset).value > 0
    assert len(study.load("stability").seeds) >= 5


def _protocol(name: str, arch: str, dataset: str) -> tuple[str, dict]:
    """The budget and hyperparameters a built-in study trains ``arch`` on ``dataset`` at."""
    s = study.load(name)
    settings = {(str(s.budget_of(m, dataset)), tuple(sorted(s.hparams_of(m, dataset).items())))
                for m in s.matrix_list() if dataset in m.datasets and arch in m.archs}
    assert len(settings) == 1, (name, arch, dataset, settings)
    budget, hparams = settings.pop()
    return budget, dict(hparams)


@pytest.mark.parametrize("follower, leader, arch, dataset", [
    ("stability", "default", "mlp", "ring8"),         # "at the default study's protocols": the
    ("stability", "default", "dcgan", "mnist5k"),     # measured ones, which train
    ("mode-collapse", "reproduce", "mlp", "ring8"),   # the 2D protocol the claims are judged at
    ("mode-collapse", "reproduce", "mlp", "grid25"),
    ("reproduce-seeds", "reproduce", "mlp", "ring8"),   # the claims at 10 seeds: the same protocol
    ("reproduce-seeds", "reproduce", "mlp", "grid25"),
    ("reproduce-seeds", "reproduce", "ali", "ring8"),
    ("reproduce-seeds", "reproduce", "ali", "grid25"),
])
def test_studies_that_borrow_a_measured_protocol_stay_on_it(follower, leader, arch, dataset):
    # (the stability and mode-collapse studies once trained the MLP at its own defaults, z 100, where it
    # covers 1 of the 8 ring modes: their tables measured the budget, not the losses)
    assert _protocol(follower, arch, dataset) == _protocol(leader, arch, dataset)
    assert len(study.load(follower).matrix_list()[0].seeds) >= len(study.load(leader).matrix_list()[0].seeds)


@pytest.mark.parametrize("arch", ["mlp", "ali"])
def test_the_budget_study_changes_the_budget_and_nothing_else(arch):
    budget, hparams = _protocol("reproduce-budget", arch, "grid25")
    leader_budget, leader_hparams = _protocol("reproduce", arch, "grid25")
    assert hparams == leader_hparams
    assert budget == str(Budget("steps", 4 * study.load("reproduce").budget_for("grid25").value))


@pytest.mark.parametrize("follower, suffix", [("reproduce-seeds", "-10seeds"), ("reproduce-budget", "-16k")])
def test_follower_studies_judge_the_claims_of_the_reproduce_study(follower, suffix):
    leader = {c.id: c for c in study.load("reproduce").claims}
    claims = study.load(follower).claims
    assert claims
    for c in claims:
        assert c.id.endswith(suffix)
        original = leader[c.id[:-len(suffix)]]
        assert (dataclasses.replace(c, id=original.id)) == original


def test_how_a_sweep_runs_is_not_part_of_any_run():
    from ganbench import plugins, sweep
    text = '[study]\nname="x"\n[matrix]\narchs=["mlp"]\nlosses=["nonsaturating"]\ndatasets=["ring8"]\n[budget]\ndefault="steps=5"\n[run]\n'
    host = plugins.load()
    plain = sweep.expand(study.parse(text, "x.toml"), host, {"device": "cpu"}).runs
    ray = sweep.expand(study.parse(text + "jobs = 2\ncpus_per_run = 2\ngpus_per_run = 0.5\n", "x.toml"), host,
                       {"device": "cpu"}).runs
    assert [s.dirname for s in ray] == [s.dirname for s in plain] and set(study.SWEEP_SETTINGS) <= set(study.SCHEMA["run"])


@pytest.mark.parametrize("text, key", [
    ('[study]\nname="x"\n[matrix]\ndatasets=["ring8"]\narchz=["mlp"]', "matrix.archz: unknown key"),
    ('[study]\nname="x"\n[matrix]\ndatasets=["ring8"]\nseeds="a"', "matrix.seeds"),
    ('[study]\nname="x"\n[matrix]\ndatasets="ring8"', "matrix.datasets: expected list"),
    ('[study]\nname="x"\n[matrix]\ndatasets=["ring8"]\n[budget]\ndefault="hours=2"', "budget.default"),
    ('[study]\nname="x"\n[matrix]\ndatasets=["ring8"]\n[run]\ndevice="tpu"', "run.device"),
    ('[matrix]\ndatasets=["ring8"]', "study.name: missing"),
    ('[study\nname="x"', "not valid TOML"),
])
def test_malformed_study_names_the_key(text, key):
    with pytest.raises(UsageError) as info:
        study.parse(text, "bad.toml")
    assert key in str(info.value) and "\n" not in str(info.value)
