"""The `reproduce` machinery: [[matrix]] and [[claim]] in study files, expanding several matrices, the
study record, the claim verdicts, and the claim table in every report format.

Verdicts are checked on hand-built Run records whose numbers are chosen here, so each expected
verdict follows from the rule by hand (means and ddof=1 stds are recomputed with numpy below).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from conftest import run_cli
from ganbench import plugins, study
from ganbench.errors import UsageError
from ganbench.report import Report, build_report, write_report
from ganbench.report import aggregate as agg
from ganbench.report import reproduce as rp
from ganbench.report.collect import Run
from ganbench.sweep import expand

HEAD = '[study]\nname = "t"\n'
MATRICES = HEAD + '''
[[matrix]]
archs = ["mlp"]
losses = ["nonsaturating", "hinge"]
datasets = ["ring8"]
seeds = [0, 1]
metrics = ["mode_coverage"]

[[matrix]]
archs = ["mlp"]
losses = ["nonsaturating"]
techniques = ["none", "unrolled"]
datasets = ["ring8"]
seeds = [1, 2]
metrics = ["mode_coverage"]
'''
TWO = MATRICES + '[budget]\nring8 = "steps=5"\n'
CLAIM = '''
[[claim]]
id = "c1"
claim = "Unrolling helps."
source = "VEEGAN T1"
paper = "GAN 1 vs Unrolled 7.6"
dataset = "ring8"
metric = "modes"
test = "greater"
variant = "mlp-nonsaturating+unrolled"
than = "mlp-nonsaturating"
'''


@pytest.fixture(scope="module")
def host():
    return plugins.load()


# ---------------------------------------------------------------------------------------------------
# Parsing

def test_builtin_reproduce_study_has_claims_matrices_and_budgets():
    s = study.load("reproduce")
    assert len(s.matrices) == 6 and all(len(m.seeds) >= 3 for m in s.matrices)
    assert all(m.metrics != ["*"] for m in s.matrices)  # metrics chosen explicitly
    ids = [c.id for c in s.claims]
    assert ids == ["unrolled-ring8", "unrolled-grid25", "pacgan-ring8", "pacgan-grid25", "ali-grid25", "ali-ring8",
                   "pacgan-stacked-mnist", "wgan-clip-recall", "sagan-beats-sngan", "seqgan-beats-mle", "lucic-ns-within-best"]
    for c in s.claims:
        assert s.claim_setting(c)[0].value > 0
    # SAGAN (1 D step) and SNGAN (5) compared at equal images shown, the DCGAN losses at their steps
    sagan = next(c for c in s.claims if c.id == "sagan-beats-sngan")
    assert str(s.claim_setting(sagan)[0]) == "kimg=64" and str(s.claim_setting(s.claims[-1])[0]) == "steps=1000"
    lucic = s.claims[-1]
    assert lucic.test == "within_spread_of_best" and lucic.among == ["dcgan-*"] and lucic.metric == "fid_lenet"
    wgan = s.claims[7]
    assert (wgan.test, wgan.variant, wgan.than, wgan.metric) == ("less", "dcgan-wgan", "dcgan-wgan_gp", "recall_lenet")


def test_several_matrices_parse_and_study_level_settings_reach_each():
    s = study.parse(TWO + CLAIM, "two.toml")
    assert [m.losses for m in s.matrices] == [["nonsaturating", "hinge"], ["nonsaturating"]]
    assert s.matrices[1].techniques == [(), ("unrolled",)]
    assert s.seeds == (0, 1, 2) and s.losses == ["nonsaturating", "hinge"]   # read back: the union
    s.seeds = (5,)                                                           # what `run --seeds 5` does
    assert [m.seeds for m in s.matrices] == [(5,), (5,)]
    assert s.claims[0].than == "mlp-nonsaturating" and s.claims[0].among == []
    one = study.parse(HEAD + '[matrix]\ndatasets = ["ring8"]\narchs = ["mlp"]\n', "one.toml")
    assert one.matrices == [] and len(one.matrix_list()) == 1 and one.matrix_list()[0].archs == ["mlp"]


@pytest.mark.parametrize("text, key", [
    (TWO.replace('seeds = [1, 2]', 'seeds = [1, 2]\narchz = ["mlp"]'), "matrix[2].archz: unknown key; valid: archs"),
    (TWO.replace('datasets = ["ring8"]\nseeds = [1, 2]', 'seeds = [1, 2]'), "matrix[2].datasets: missing"),
    (TWO + CLAIM + 'thann = "x"\n', "claim 'c1'.thann: unknown key; valid: id, claim, source, paper, dataset, "
                                    "metric, test, variant, than, among"),
    (TWO + CLAIM.replace('test = "greater"', 'test = "bigger"'), "claim 'c1'.test: 'bigger' is not one of greater"),
    (TWO + CLAIM.replace('than = "mlp-nonsaturating"\n', ''), "claim 'c1'.than: missing"),
    (TWO + CLAIM + 'among = ["mlp-*"]\n', "claim 'c1'.among: not used by test greater"),
    (TWO + CLAIM.replace('source = "VEEGAN T1"\n', ''), "claim 'c1'.source: missing"),
    (TWO + CLAIM.replace('dataset = "ring8"', 'dataset = "grid25"'),
     "claim 'c1'.dataset: 'grid25' is not in any matrix"),
    (TWO + CLAIM.replace('than = "mlp-nonsaturating"', 'than = "mlp-wgan"'),
     "claim 'c1'.than: no matrix runs variant 'mlp-wgan'"),
    (TWO + CLAIM + CLAIM, "claim 'c1'.id: 'c1' is given twice"),
    (TWO + CLAIM.replace('id = "c1"', 'id = "C 1"'), "claim 'C 1'.id: 'C 1' must match"),
    (TWO + CLAIM.replace('metric = "modes"', 'metric = 3'), "claim 'c1'.metric: expected str"),
    (TWO + CLAIM.replace('test = "greater"', 'test = "within_spread_of_best"')
     .replace('than = "mlp-nonsaturating"', ''),
     "claim 'c1'.among: missing or empty"),
])
def test_malformed_matrix_or_claim_is_one_line_naming_study_and_key(text, key):
    with pytest.raises(UsageError) as info:
        study.parse(text, "bad.toml")
    msg = str(info.value)
    assert msg.startswith("study bad.toml: ") and key in msg and "\n" not in msg


# ---------------------------------------------------------------------------------------------------
# Expanding several matrices

def test_expand_concatenates_matrices_once_per_run_and_keeps_skipped(host):
    text = MATRICES + '''
[[matrix]]
archs = ["dcgan"]
losses = ["nonsaturating"]
datasets = ["ring8", "mnist5k"]
seeds = [0]
metrics = ["class_coverage"]

[[matrix]]
archs = ["dcgan"]
losses = ["nonsaturating"]
datasets = ["mnist5k"]
seeds = [0]
metrics = ["lenet_fidelity"]

[budget]
ring8 = "steps=5"
mnist5k = "steps=5"
'''
    plan = expand(study.parse(text, "e.toml"), host)
    names = [s.name for s in plan.runs]
    # matrix 1: ns s0 s1, hinge s0 s1; matrix 2: ns s1 (again), ns s2, unrolled s1 s2; then one DCGAN run
    assert names == ["mlp-nonsaturating-ring8-s0", "mlp-nonsaturating-ring8-s1", "mlp-hinge-ring8-s0",
                     "mlp-hinge-ring8-s1", "mlp-nonsaturating-ring8-s2", "mlp-nonsaturating+unrolled-ring8-s1",
                     "mlp-nonsaturating+unrolled-ring8-s2", "dcgan-nonsaturating-mnist5k-s0"]
    assert len({s.dirname for s in plan.runs}) == len(plan.runs)
    # asked for by two matrices with different metrics: one run that measures both
    assert set(plan.runs[-1].metrics) == {"class_coverage", "lenet_fidelity"}
    assert [w for w, _ in plan.skipped] == ["dcgan-nonsaturating-ring8"]
    assert all(s.study == "t" for s in plan.runs)


def test_a_matrix_budget_and_hparams_override_the_study_for_its_runs_and_claims(host):
    text = TWO.replace('seeds = [1, 2]\n', 'seeds = [1, 2]\nbudget = "kimg=3"\nhparams = {batch_size = 16}\n')
    s = study.parse(text, "m.toml")
    plan = expand(s, host).runs
    runs = {r.name: r for r in plan}
    assert str(runs["mlp-hinge-ring8-s0"].budget) == "steps=5" and "batch_size" not in runs["mlp-hinge-ring8-s0"].hparams
    unrolled = runs["mlp-nonsaturating+unrolled-ring8-s1"]
    assert str(unrolled.budget) == "kimg=3" and unrolled.hparams["batch_size"] == 16
    # mlp-nonsaturating s1 is asked for by both matrices, at two budgets: two runs, two directories
    twice = [r for r in plan if r.name == "mlp-nonsaturating-ring8-s1"]
    assert sorted(str(r.budget) for r in twice) == ["kimg=3", "steps=5"] and len({r.dirname for r in twice}) == 2
    # a claim comparing the unrolled runs (matrix 2) with hinge (matrix 1): two budgets, refused
    with pytest.raises(UsageError, match=r"claim 'c1': its variants run under different budgets .* in matrix\[1\], "
                                         r"matrix\[2\]"):
        study.parse(text + CLAIM.replace('than = "mlp-nonsaturating"', 'than = "mlp-hinge"'), "m.toml")
    # a claim within matrix 2 is judged at its budget, recorded with the claim for the report
    one = study.parse(text.replace('losses = ["nonsaturating"]\ntechniques', 'losses = ["hinge"]\ntechniques')
                      + CLAIM.replace('variant = "mlp-nonsaturating+unrolled"', 'variant = "mlp-hinge+unrolled"')
                      .replace('than = "mlp-nonsaturating"', 'than = "mlp-hinge+unrolled"'), "m.toml")
    [claim] = study.record(one)["claims"]
    assert claim["budget"] == "kimg=3" and claim["hparams"] == {"batch_size": 16}


def test_a_single_matrix_keeps_its_own_budget_and_hparams(host):
    for table in ("[matrix]", "[[matrix]]"):
        s = study.parse(HEAD + f'{table}\narchs = ["mlp"]\nlosses = ["hinge"]\ndatasets = ["ring8"]\n'
                        'budget = "kimg=3"\nhparams = {batch_size = 16}\n[budget]\nring8 = "steps=5"\n', "one.toml")
        (run,) = expand(s, host).runs
        assert str(run.budget) == "kimg=3" and run.hparams["batch_size"] == 16, table


@pytest.mark.parametrize("line, key", [
    ('budget = "hours=3"', "matrix[2].budget: "),
    ('hparams = {ring8 = {batch_size = 16}}', "matrix[2].hparams: give name = value pairs"),
    ('budget = 5', "matrix[2].budget: expected str"),
])
def test_a_bad_matrix_budget_or_hparams_is_one_line(line, key):
    with pytest.raises(UsageError) as info:
        study.parse(TWO.replace('seeds = [1, 2]\n', f'seeds = [1, 2]\n{line}\n'), "bad.toml")
    assert key in str(info.value) and "\n" not in str(info.value)


def test_an_unknown_matrix_hyperparameter_stops_before_any_run(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(TWO.replace('seeds = [1, 2]\n', 'seeds = [1, 2]\nhparams = {batch_sise = 16}\n'))
    r = run_cli("run", "--study", str(path), "--results-dir", str(tmp_path / "r"))
    assert r.returncode == 2 and "matrix[2].hparams.batch_sise: unknown hyperparameter" in r.stderr
    assert "did you mean batch_size" in r.stderr and not (tmp_path / "r" / "runs").exists()


# ---------------------------------------------------------------------------------------------------
# Verdicts on hand-built runs

def fake_run(variant, seed, value, *, dataset="ring8", metric="modes", hib=True, budget=("steps", 100),
             status="completed", overrides=None, study_label="t", n=2500, extractor=""):
    arch, _, rest = variant.partition("-")
    loss, *techniques = rest.split("+")
    spec = {"schema": 1, "variant": variant, "overrides": overrides or {},
            "spec": {"arch": arch, "loss": loss, "techniques": techniques, "dataset": dataset, "seed": seed,
                     "budget": {"kind": budget[0], "value": budget[1]}, "hparams": {"lr_g": 2e-4, **(overrides or {})},
                     "study": study_label, "device": "cpu", "precision": "fp32"},
            "versions": {"ganbench": "0.1.0", "torch": "2.14.1"}, "env": {"git_commit": "abc"}}
    final = {} if value is None else {metric: {"value": value, "higher_is_better": hib, "num_samples": n,
                                               "reference_split": "test", "extractor": extractor, "extra": {}}}
    name = f"{variant}-{dataset}-s{seed}-{budget[1]}-{study_label}-{len(json.dumps(overrides or {}))}"
    return Run(name, "/x/" + name, spec, {"schema": 1, "status": status, "final": final}, {})


def runs_of(variant, values, **kw):
    return [fake_run(variant, seed, v, **kw) for seed, v in enumerate(values)]


def write_record(root, claims, budgets=None, name="t", hparams=None):
    os.makedirs(os.path.join(root, "studies"), exist_ok=True)
    rec = {"schema": 1, "name": name, "description": "", "budgets": budgets or {"default": "steps=100"},
           "claims": claims}
    if hparams is not None:
        rec["hparams"] = hparams
    with open(os.path.join(root, "studies", f"{name}.json"), "w") as f:
        json.dump(rec, f)


def greater(cid="c", variant="mlp-nonsaturating+unrolled", than="mlp-nonsaturating", test="greater",
            metric="modes", dataset="ring8"):
    return {"id": cid, "claim": f"claim {cid}", "source": "src", "paper": "1 vs 7.6", "dataset": dataset,
            "metric": metric, "test": test, "variant": variant, "than": than}


def within(cid, variant, among, metric="fid_lenet", dataset="mnist5k"):
    return {"id": cid, "claim": f"claim {cid}", "source": "src", "paper": "p", "dataset": dataset,
            "metric": metric, "test": "within_spread_of_best", "variant": variant, "among": among}


def verdicts(table):
    return {row[0].text: row[4].text for row in table.rows}


def stat(values):
    arr = np.asarray(values, dtype=float)
    return f"{arr.mean():.{agg._decimals_for(arr.std(ddof=1))}f}"


def test_greater_and_less_verdicts(tmp_path):
    U, G = "mlp-nonsaturating+unrolled", "mlp-nonsaturating"
    cases = {
        # claim id: (variant values, baseline values, expected)
        "holds": ([7.0, 8.0, 8.0], [1.0, 2.0, 1.0], rp.HOLDS),
        "overlap": ([3.0, 5.0, 4.0], [2.0, 4.0, 3.0], rp.DIRECTION_ONLY),   # 4 ± 1 vs 3 ± 1
        "opposite": ([1.0, 1.0, 2.0], [7.0, 8.0, 8.0], rp.DOES_NOT_HOLD),
        "equal": ([3.0, 3.0, 3.0], [3.0, 3.0, 3.0], rp.DOES_NOT_HOLD),
        "one-seed": ([8.0], [1.0, 2.0, 1.0], rp.NOT_ENOUGH),
        "no-baseline": ([8.0, 8.0], [], rp.NOT_RUN),
    }
    runs, claims = [], []
    for i, (cid, (a, b, _)) in enumerate(cases.items()):
        ds = f"d{i}"
        runs += runs_of(U, a, dataset=ds) + runs_of(G, b, dataset=ds)
        claims.append({**greater(cid, dataset=ds)})
    # recall: lower for WGAN (clipping) than WGAN-GP
    runs += runs_of("dcgan-wgan", [0.02, 0.03, 0.01], dataset="mnist5k", metric="recall_lenet")
    runs += runs_of("dcgan-wgan_gp", [0.26, 0.25, 0.27], dataset="mnist5k", metric="recall_lenet")
    claims.append(greater("less", "dcgan-wgan", "dcgan-wgan_gp", "less", "recall_lenet", "mnist5k"))
    claims.append(greater("less-wrong-way", "dcgan-wgan_gp", "dcgan-wgan", "less", "recall_lenet", "mnist5k"))
    write_record(tmp_path, claims)
    problems = []
    [table] = rp.claim_tables(str(tmp_path), runs, problems)
    assert problems == []
    got = verdicts(table)
    for cid, (_, _, expected) in cases.items():
        assert got[f"claim {cid}"] == expected, cid
    assert got["claim less"] == rp.HOLDS and got["claim less-wrong-way"] == rp.DOES_NOT_HOLD
    assert table.kind == "reproduce" and [c.label for c in table.columns] == [
        "claim", "source", "paper's number", "ganbench's number (mean ± std over seeds)", "holds?"]
    cell = table.rows[0][3]
    assert cell.text.startswith(f"{U}: ") and " (3 seeds) vs mlp-nonsaturating: " in cell.text
    assert cell.value == pytest.approx(np.mean([7, 8, 8])) and cell.std == pytest.approx(np.std([7, 8, 8], ddof=1))
    assert cell.n == 3
    assert table.rows[5][3].text.endswith("mlp-nonsaturating: not run")
    assert any("holds" in n and "ddof=1" in n for n in table.notes)   # the rules are in the notes
    assert all(v in rp.VERDICTS for v in got.values())


def test_direct_rules():
    s = lambda m, sd, n=3: agg.Summary(m, sd, n)  # noqa: E731
    assert rp.compare_verdict("greater", s(5, 1), s(2, 1)) == rp.HOLDS
    assert rp.compare_verdict("greater", s(4, 1), s(2, 1)) == rp.DIRECTION_ONLY  # intervals touch: overlap
    assert rp.compare_verdict("less", s(4, 1), s(2, 1)) == rp.DOES_NOT_HOLD
    assert rp.compare_verdict("greater", s(5, None, 1), s(2, 1)) == rp.NOT_ENOUGH
    assert rp.best_of({"a": s(3, 1), "b": s(1, 1), "c": agg.Summary(None, None, 0)}, False) == "b"
    assert rp.within_verdict(s(3, 1), s(1, 1)) == rp.HOLDS
    assert rp.within_verdict(s(3.5, 0.5), s(1, 1)) == rp.DOES_NOT_HOLD


def test_within_spread_of_best_uses_the_metric_direction_and_globs(tmp_path):
    fid = dict(dataset="mnist5k", metric="fid_lenet", hib=False, extractor="lenet-x", n=1000)
    runs = (runs_of("dcgan-nonsaturating", [20.0, 22.0, 24.0], **fid)
            + runs_of("dcgan-wgan_gp", [23.0, 25.0, 27.0], **fid)
            + runs_of("dcgan-minimax", [60.0, 61.0, 62.5], **fid) + runs_of("mlp-hinge", [1.0, 1.0, 1.0], **fid))
    claims = [within("ns", "dcgan-nonsaturating", ["dcgan-*"]),          # ns is the best (lowest): holds
              within("mm", "dcgan-minimax", ["dcgan-*"]),                # 61.2 ± 1.3 vs 22 ± 2: does not hold
              within("gp", "dcgan-wgan_gp", ["dcgan-nonsaturating", "dcgan-wgan_gp"]),  # 25 ± 2 vs 22 ± 2: holds
              within("missing", "dcgan-nonsaturating", ["dcgan-nonsaturating", "dcgan-hinge"]),
              within("no-match", "dcgan-nonsaturating", ["sngan*"])]
    write_record(tmp_path, claims)
    [table] = rp.claim_tables(str(tmp_path), runs)
    got = verdicts(table)
    assert got == {"claim ns": rp.HOLDS, "claim mm": rp.DOES_NOT_HOLD, "claim gp": rp.HOLDS,
                   "claim missing": rp.NOT_RUN, "claim no-match": rp.NOT_RUN}
    mm = table.rows[1][3].text
    assert mm.startswith("dcgan-minimax: ") and "best of dcgan-* (3 variants run): dcgan-nonsaturating: 22" in mm
    assert "not run: dcgan-hinge" in table.rows[3][3].text
    assert any("lower is better" in n and "fid_lenet: extractor lenet-x, N=1000, reference split test" in n
               for n in table.notes)


def test_runs_are_matched_by_dataset_variant_budget_and_hparams_not_by_study_label(tmp_path):
    U, G = "mlp-nonsaturating+unrolled", "mlp-nonsaturating"
    runs = (runs_of(U, [7.0, 8.0, 8.0], study_label="other-study")        # stored under another study: counts
            + runs_of(G, [1.0, 2.0, 1.0])
            + [fake_run(G, 0, 1.0, metric="hq_percent")]                  # same seed again, other metrics: one seed
            + runs_of(G, [9.0, 9.0, 9.0], budget=("steps", 200))          # other budget: ignored
            + runs_of(G, [9.0, 9.0, 9.0], dataset="grid25")               # other dataset: ignored
            + runs_of(G, [9.0, 9.0, 9.0], overrides={"batch_size": 8})    # other hyperparameters: ignored
            + runs_of("mlp-hinge", [3.0, 3.0], budget=("steps", 50)))
    write_record(tmp_path, [greater("c"), greater("hinge", "mlp-hinge")], budgets={"ring8": "steps=100.0"},
                 hparams={"ring8": {}})
    [table] = rp.claim_tables(str(tmp_path), runs)
    cell = table.rows[0][3].text
    assert verdicts(table) == {"claim c": rp.HOLDS, "claim hinge": rp.NOT_RUN}
    assert f"{G}: {stat([1, 2, 1])}" in cell and cell.endswith("(3 seeds)")
    assert table.rows[1][3].text.startswith("mlp-hinge: not run (stored at 50 steps) vs ")
    assert ("runs", ["6 matched (6 completed)"]) in table.provenance


def test_a_claim_with_its_own_budget_and_hparams_is_judged_on_those_runs(tmp_path):
    U, G = "mlp-nonsaturating+unrolled", "mlp-nonsaturating"
    runs = (runs_of(U, [7.0, 8.0, 8.0], budget=("kimg", 64), overrides={"batch_size": 16})
            + runs_of(G, [1.0, 2.0, 1.0], budget=("kimg", 64), overrides={"batch_size": 16})
            + runs_of(G, [9.0, 9.0, 9.0]))                                 # the dataset's budget: ignored
    claim = {**greater("c"), "budget": "kimg=64", "hparams": {"batch_size": 16}}
    write_record(tmp_path, [claim], budgets={"ring8": "steps=100"}, hparams={"ring8": {}})
    [table] = rp.claim_tables(str(tmp_path), runs)
    assert verdicts(table) == {"claim c": rp.HOLDS} and f"{G}: {stat([1, 2, 1])}" in table.rows[0][3].text
    assert ("budget", ["ring8: 64 kimg"]) in table.provenance
    problems = []
    write_record(tmp_path, [{**greater("c"), "budget": "hours=2"}])
    assert rp.claim_tables(str(tmp_path), runs, problems) == []
    assert problems == ["studies/t.json: claims[1]: invalid budget 'hours=2'"]


def test_not_enough_runs_when_seeds_diverged_and_malformed_records_are_problems(tmp_path):
    U, G = "mlp-nonsaturating+unrolled", "mlp-nonsaturating"
    runs = runs_of(G, [1.0, 2.0, 1.0]) + [fake_run(U, 0, 8.0), fake_run(U, 1, None, status="diverged")]
    write_record(tmp_path, [greater("c"), {"id": "broken"}, greater("c")], name="good")
    studies = tmp_path / "studies"
    (studies / "torn.json").write_text('{"schema": 1, "name": ')
    (studies / "old.json").write_text(json.dumps({"schema": 7, "name": "x", "claims": []}))
    (studies / "nobudget.json").write_text(json.dumps({"schema": 1, "name": "nb", "budgets": {"grid25": "hours=3"},
                                                       "claims": [greater("c")]}))
    (studies / "noclaims.json").write_text(json.dumps({"schema": 1, "name": "plain", "budgets": {}, "claims": []}))
    problems = []
    tables = rp.claim_tables(str(tmp_path), runs, problems)
    assert [t.title for t in tables] == ["Published claims vs ganbench (study good)"]
    assert verdicts(tables[0]) == {"claim c": rp.NOT_ENOUGH}
    assert "no modes value" not in tables[0].rows[0][3].text and "(1 seed) vs" in tables[0].rows[0][3].text
    assert any(p.startswith("studies/torn.json: unreadable") for p in problems)
    assert "studies/old.json: unsupported schema 7" in problems
    assert "studies/good.json: claims[2]: missing or non-text 'claim'" in problems
    assert "studies/good.json: claims[3]: claim id 'c' given twice" in problems
    assert "studies/nobudget.json: budgets.grid25: invalid budget 'hours=3'" in problems
    assert "studies/nobudget.json: claims[1]: no budget for dataset 'ring8'" in problems
    assert all("\n" not in p for p in problems)


def test_record_is_json_ready_and_reflects_command_line_overrides(tmp_path):
    from ganbench.spec import Budget
    s = study.load("reproduce")
    rec = study.record(s)
    assert json.loads(json.dumps(rec)) == rec
    assert rec["budgets"] == {name: str(budget) for name, budget in s.budgets.items()}
    assert set(rec["budgets"]) == {"grid25", "mnist5k", "oracle_lstm", "ring8", "stacked_mnist"}
    assert [c["id"] for c in rec["claims"]] == [c.id for c in s.claims] and "than" not in rec["claims"][-1]
    over = study.record(s, {"budget": Budget("steps", 1234567), "hparams": {"batch_size": 8}})
    assert over["budgets"] == {"default": "steps=1234567"} and over["hparams"]["ring8"]["batch_size"] == 8
    path = study.write_record(s, tmp_path)
    assert path == tmp_path / "studies" / "reproduce.json" and json.loads(path.read_text()) == rec


def test_every_format_renders_the_claim_table(tmp_path, host):
    runs = runs_of("mlp-nonsaturating+unrolled", [7.0, 8.0, 8.0]) + runs_of("mlp-nonsaturating", [1.0, 2.0, 1.0])
    claim = {**greater("c"), "claim": "Unrolling <b>helps</b> | a lot", "paper": "GAN 1 vs Unrolled 7.6"}
    write_record(tmp_path, [claim])
    groups, tables = rp.claims_section(str(tmp_path), runs, [], taken=["claims-t"])
    assert [g.id for g in groups] == ["claims-t-2"] and tables[0].group == "claims-t-2"
    report = Report("0.0", groups, tables, [], len(runs), [], [])
    out = tmp_path / "out"
    write_report(report, str(out), None, host=host)  # the formats that declare default: all built-ins
    md = (out / "report.md").read_text()
    assert "| claim | source | paper's number | ganbench's number (mean ± std over seeds) | holds? |" in md
    assert "Unrolling \\<b\\>helps\\</b\\> \\| a lot" in md and "| holds |" in md
    page = (out / "report.html").read_text()
    assert f'data-table="{tables[0].id}"' in page and "Unrolling &lt;b&gt;helps&lt;/b&gt; | a lot" in page
    assert "<td>holds</td>" in page
    assert (out / "csv" / f"{tables[0].id}.csv").read_text().startswith("claim,source,paper,ganbench,holds\n")
    assert json.loads((out / "report.json").read_text())["tables"][0]["kind"] == "reproduce"
    assert "Published claims vs ganbench (study t)" in (out / "report.tex").read_text()


# ---------------------------------------------------------------------------------------------------
# End to end: ganbench run --study FILE, then the report

def test_run_a_claim_study_then_report(tmp_path):
    toml = tmp_path / "tiny.toml"
    toml.write_text('''[study]
name = "tiny-repro"

[[matrix]]
archs = ["mlp"]
losses = ["nonsaturating"]
techniques = ["none", "unrolled"]
datasets = ["ring8"]
seeds = [0, 1]
metrics = ["mode_coverage"]

[budget]
ring8 = "steps=5"

[hparams]
batch_size = 32

[run]
eval_every = 1000
threads = 1
''' + CLAIM)
    results = tmp_path / "results"
    proc = run_cli("run", "--study", str(toml), "--results-dir", str(results), "-q")
    assert proc.returncode == 0, proc.stderr
    record = results / "studies" / "tiny-repro.json"
    if not record.exists():   # until `ganbench run` writes it itself (cli.py: study.write_record)
        study.write_record(study.load(str(toml)), results)
    report = build_report(str(results), figures=False)
    [table] = [t for t in report.tables if t.kind == "reproduce"]
    assert table.group in [g.id for g in report.groups]
    row = table.rows[0]
    assert [c.text for c in row[:3]] == ["Unrolling helps.", "VEEGAN T1", "GAN 1 vs Unrolled 7.6"]
    assert row[3].text.startswith("mlp-nonsaturating+unrolled: ") and " (2 seeds) vs mlp-nonsaturating: " in row[3].text
    assert row[3].n == 2
    assert row[4].text in rp.VERDICTS and row[4].text != rp.NOT_RUN
    assert not [p for p in report.problems if p.startswith("studies/")]
    write_report(report, str(tmp_path / "out"), ["markdown", "html"])
    assert "| Unrolling helps. | VEEGAN T1 | GAN 1 vs Unrolled 7.6 | mlp-nonsaturating+unrolled: " in (
        tmp_path / "out" / "report.md").read_text()
    assert f'data-table="{table.id}"' in (tmp_path / "out" / "report.html").read_text()
