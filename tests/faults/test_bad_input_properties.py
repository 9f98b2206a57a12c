"""Property-based fuzz of what a user types (issue 11): budgets, seed lists, hyperparameters and whole
study files drawn by hypothesis. Whatever the input, the answer is a valid value or one UsageError
line, and a value that is accepted is one a run can use."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultlib import invoke
from ganbench import plugins, preflight, study, sweep
from ganbench.errors import UsageError
from ganbench.spec import MAX_BUDGET, MAX_SEED, MAX_SEEDS, Budget, parse_seeds

# database=None: nothing written into the working tree; deadline=None: a slow CI box is not a failure
FUZZ = settings(max_examples=300, deadline=None, database=None)
FEW = settings(max_examples=60, deadline=None, database=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

NUMBER = st.from_regex(r"\A[+-]?[0-9]{0,4}(\.[0-9]{0,3})?([eE][+-]?[0-9]{1,4})?\Z")
BUDGET_TEXT = st.one_of(st.builds("{}={}".format, st.sampled_from(["steps", "kimg", "seconds", "flops", "x"]), NUMBER),
                        NUMBER, st.text(max_size=12))
SEED_PART = st.one_of(st.integers(-3, 2 ** 40).map(str),
                      st.builds("{}-{}".format, st.integers(0, 2 ** 36), st.integers(0, 2 ** 36)),
                      st.builds("{}-{}".format, st.integers(0, 50), st.integers(0, 60)), st.text(max_size=4))
SEED_TEXT = st.one_of(st.lists(SEED_PART, max_size=4).map(",".join), st.text(max_size=10))


def one_line_usage_error(call) -> object:
    try:
        return call()
    except UsageError as exc:
        assert "\n" not in str(exc) and str(exc)
        return None


@FUZZ
@given(BUDGET_TEXT)
def test_a_budget_is_finite_positive_and_bounded_or_refused(text):
    budget = one_line_usage_error(lambda: Budget.parse(text))
    if budget is not None:
        assert math.isfinite(budget.value) and 0 < budget.value <= MAX_BUDGET[budget.kind]
        assert Budget.parse(study._budget_text(budget)) == budget


@FUZZ
@given(SEED_TEXT)
def test_seeds_are_bounded_or_refused(text):
    seeds = one_line_usage_error(lambda: parse_seeds(text))
    if seeds is not None:
        assert 0 < len(seeds) <= MAX_SEEDS and all(0 <= s <= MAX_SEED for s in seeds)


HPARAM_VALUE = st.one_of(st.integers(-10, 10 ** 20), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                         st.text(max_size=5), st.lists(st.integers(0, 3), max_size=2))


@FUZZ
@given(st.sampled_from(["batch_size", "z_dim", "n_critic", "lr_g", "lr_d", "beta1", "beta2", "hidden"]), HPARAM_VALUE)
def test_an_accepted_hyperparameter_has_its_defaults_type_and_range(name, value):
    from ganbench_plugins.archs.mlp import MLP
    default = MLP.defaults[name]
    if preflight.hparam_problem(name, value, default) is None:
        assert type(value) is type(default) or (isinstance(default, float) and type(value) is int)
        if isinstance(value, float):
            assert math.isfinite(value)
        if name in ("batch_size", "z_dim", "n_critic"):
            assert value >= 1
        if name in ("lr_g", "lr_d"):
            assert value > 0


# ---------------------------------------------------------------------------------------------------
# Whole study files: known sections and keys with values of any TOML type, and some unknown ones

def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


SCALAR = st.one_of(st.integers(-5, 10 ** 6), st.floats(), st.booleans(),
                   st.sampled_from(["mlp", "nonsaturating", "ring8", "*", "none", "steps=3", "kimg=1e309",
                                    "0-2", "", "cuda", "fp32", "mode_coverage", "lenet_fidelity"]),
                   st.text(max_size=6))
VALUE = st.one_of(SCALAR, st.lists(SCALAR, max_size=3))
KEYS = {section: sorted(fields) + ["nosuch"] for section, fields in study.SCHEMA.items()}
KEYS["budget"], KEYS["hparams"] = ["default", "ring8", "grid25"], ["batch_size", "lr_g", "hidden", "nosuch"]
KEYS["study"].append("tables")


@st.composite
def study_text(draw) -> str:
    tables = {"study": {}, "matrix": {"archs": ["mlp"], "losses": ["nonsaturating"], "datasets": ["ring8"]},
              "budget": {"default": "steps=3"}}
    for section in draw(st.lists(st.sampled_from(sorted(KEYS)), min_size=1, max_size=4, unique=True)):
        for key in draw(st.lists(st.sampled_from(KEYS[section]), max_size=3, unique=True)):
            tables.setdefault(section, {})[key] = draw(VALUE)
    tables["study"]["name"] = draw(VALUE) if draw(st.booleans()) else "fuzz"
    lines = []
    for section, table in tables.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def host():
    return plugins.load()


@FUZZ
@given(text=study_text())
def test_a_study_file_is_a_plan_of_usable_runs_or_one_line(host, text):
    parsed = one_line_usage_error(lambda: study.parse(text, "fuzz.toml"))
    if parsed is None:
        return
    assert parsed.name.strip() and parsed.name.isprintable()
    for key, (low, high) in study.RUN_RANGES.items():
        if key in parsed.run:
            assert low <= parsed.run[key] <= (high if high is not None else parsed.run[key])
    for budget in parsed.budgets.values():
        assert math.isfinite(budget.value) and budget.value > 0

    def plan():
        runs = sweep.expand(parsed, host, {"device": "cpu"}, max_runs=200).runs  # 200: keeps each example fast
        preflight.check_hparams(host, parsed, runs, {})
        return runs
    runs = one_line_usage_error(plan)
    if "*" not in parsed.metrics:  # metrics named explicitly must measure something on every run
        assert all(spec.metrics for spec in runs or [])


@FEW
@given(budget=BUDGET_TEXT, seeds=SEED_TEXT.filter(lambda s: "-" not in s or len(s) < 6))
def test_the_command_line_answers_a_plan_or_one_line_and_writes_nothing(tmp_path, capsys, budget, seeds):
    results = tmp_path / "results"
    code, out, err = invoke(capsys, "run", "--arch", "mlp", "--loss", "nonsaturating", "--dataset", "ring8",
                            "--budget", budget, "--seeds", seeds, "--results-dir", results, "--dry-run", "--json")
    assert not results.exists()
    if code == 0:
        assert budget.strip() and seeds.strip()  # an empty value is a mistake, never "the default"
        plan = json.loads(out)
        assert all(math.isfinite(Budget.parse(run["budget"]).value) for run in plan["runs"])
    else:
        assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
