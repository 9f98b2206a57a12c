"""Policy comes from what plugins declare, never from names the core knows.

A third-party metric that declares a better rank than the built-ins leads the tables and selects the
checkpoint; a value declared ``mode_collapse`` joins the mode-collapse table; a report format's
alias works on the command line; and the core's code names no built-in metric, format or dataset.
"""

from __future__ import annotations

import ast
import json
import os
import pathlib
import re

import pytest
from click.testing import CliRunner

from ganbench import cli as cli_mod
from ganbench import hookimpl, plugins, runner
from ganbench.api import Metric, MetricValue, ReportFormat
from ganbench.errors import UsageError
from ganbench.evaluation import evaluate
from ganbench.report import build_report
from ganbench.report.collect import Run
from ganbench.report.stability import failure_reason
from ganbench.spec import Budget, RunSpec
from test_report import LENET, _metric, write_run

ROOT = pathlib.Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------------
# A third party's metric and report format

class Sharpness(Metric):
    """A third party's score that claims to be the better primary metric."""

    name = "sharpness_score"
    ranks = {"sharpness": -1}                    # ahead of every built-in rank
    mode_collapse = ("lost_modes",)
    counts_modes = ("kept_modes",)
    val_calls = 0                                # evaluations on val so far (instances are made per call)

    def __init__(self, value: float | None = None):
        self.value = value

    def compute(self, ctx, split):
        value = self.value
        if value is None:  # in a run: rises with every val evaluation, so the first one is the best
            value = float(Sharpness.val_calls)
            Sharpness.val_calls += split == "val"
        extra = {"unit": "a.u."}  # one dict for every value: declarations must still differ per value
        return [MetricValue("sharpness", value, False, 100, split, "sharp-net", extra),
                MetricValue("lost_modes", 2.0, False, 100, "", "", extra),
                MetricValue("kept_modes", 3.0, True, 100, "", "", extra)]


class Undeclared(Sharpness):
    """The same values with no declarations: the control."""

    name = "undeclared_score"
    ranks, mode_collapse, counts_modes = {}, (), ()


class PlainText(ReportFormat):
    """Tables as plain text (a third party's format, written only when asked for)."""

    name = "plain_text"
    extension = "txt"
    aliases = ("txt",)
    default = False

    def render(self, report, out_dir):
        path = os.path.join(out_dir, f"report.{self.extension}")
        with open(path, "w") as f:
            f.write("\n".join(t.title for t in report.tables) + "\n")
        return [path]


class ThirdParty:
    def __init__(self, *metrics):
        self.metrics = metrics

    @hookimpl
    def ganbench_register_metrics(self, registry):
        for cls in self.metrics:
            registry.add(cls)

    @hookimpl
    def ganbench_register_report_formats(self, registry):
        registry.add(PlainText)


def stored(metric: Metric) -> dict:
    """The values of ``metric`` as a run stores them (evaluate() adds the declarations)."""
    values, errors = evaluate([metric], None, "test")
    assert not errors
    return {v.name: {"value": v.value, "higher_is_better": v.higher_is_better, "num_samples": v.num_samples,
                     "reference_split": v.reference_split, "extractor": v.extractor, "extra": v.extra}
            for v in values}


def table(report, kind, dataset):
    return next(t for t in report.tables if t.kind == kind and t.group.startswith(dataset))


def labels(t):
    return [c.label for c in t.columns]


# ---------------------------------------------------------------------------------------------------

def test_evaluate_records_each_values_own_declarations():
    recs = stored(Sharpness(1.0))
    assert recs["sharpness"]["extra"]["rank"] == -1 and "mode_collapse" not in recs["sharpness"]["extra"]
    assert recs["lost_modes"]["extra"]["mode_collapse"] == 0 and "rank" not in recs["lost_modes"]["extra"]
    assert recs["kept_modes"]["extra"]["counts_modes"] is True
    assert all(r["extra"]["unit"] == "a.u." for r in recs.values())
    assert not any(k in r["extra"] for r in stored(Undeclared(1.0)).values()
                   for k in ("rank", "mode_collapse", "counts_modes"))


@pytest.mark.parametrize("cls, primary", [(Sharpness, "sharpness"), (Undeclared, "fid_lenet")])
def test_declared_rank_leads_leaderboard_and_stability(tmp_path, cls, primary):
    # sharpness orders the variants opposite to fid_lenet, so the sort shows which one leads
    for variant, fid, sharp in (("dcgan-hinge", 10.0, 9.0), ("dcgan-minimax", 20.0, 1.0)):
        arch, loss = variant.split("-")
        for seed in range(2):
            write_run(str(tmp_path), arch=arch, loss=loss, dataset="mnist5k", seed=seed,
                      final={"fid_lenet": _metric(fid + seed, False, LENET), **stored(cls(sharp + seed))})
    report = build_report(str(tmp_path), host=plugins.load(only=("markdown",)), figures=False)
    board = table(report, "leaderboard", "mnist5k")
    assert labels(board)[2] == primary
    best = min((("dcgan-hinge", 10.0, 9.0), ("dcgan-minimax", 20.0, 1.0)),
               key=lambda v: v[2] if primary == "sharpness" else v[1])[0]
    assert board.rows[0][0].text == best
    assert labels(table(report, "stability", "mnist5k"))[5] == f"{primary} mean"


@pytest.mark.parametrize("cls", [Sharpness, Undeclared])
def test_declared_mode_collapse_value_joins_the_table(tmp_path, cls):
    for seed in range(2):
        write_run(str(tmp_path), arch="mlp", loss="hinge", dataset="ring8", seed=seed,
                  final={"modes": _metric(8.0, True), "hq_percent": _metric(90.0, True),
                         "reverse_kl": _metric(0.1, False), **stored(cls(1.0))})
        write_run(str(tmp_path), arch="mlp", loss="hinge", dataset="other", seed=seed, final=stored(cls(1.0)))
    report = build_report(str(tmp_path), host=plugins.load(only=("markdown",)), figures=False)
    declared = cls is Sharpness
    ring = table(report, "mode_collapse", "ring8")
    assert labels(ring)[2:] == ["modes", "hq_percent", "reverse_kl"] + (["lost_modes"] if declared else [])
    others = [t for t in report.tables if t.kind == "mode_collapse" and t.group.startswith("other")]
    assert [labels(t)[2:] for t in others] == ([["lost_modes"]] if declared else [])


def test_declared_mode_count_decides_collapse():
    def reason(cls):
        run = Run("r", "", {}, {"status": "completed", "final": stored(cls(1.0))}, {})
        return failure_reason(run, None, num_modes=8)   # 3 of 8 modes kept: below half
    assert reason(Sharpness) == "collapsed" and reason(Undeclared) is None


@pytest.mark.parametrize("cls, by", [(Sharpness, "sharpness"), (Undeclared, "modes")])
def test_declared_rank_selects_the_checkpoint(tmp_path, cls, by):
    host = plugins.load(extra=[("third_party", ThirdParty(cls))])
    cls.val_calls = 0
    spec = RunSpec("mlp", "nonsaturating", "ring8", 0, Budget("steps", 40), metrics=("mode_coverage", cls.name),
                   hparams={"batch_size": 32}, threads=1, evaluations=3)
    runner.execute(spec, tmp_path, host=host)
    run_dir = tmp_path / "runs" / spec.dirname
    result = json.loads((run_dir / "result.json").read_text())
    assert result["selected"]["by"] == by
    if cls is Sharpness:  # its val value rises each evaluation: the first evaluation is the best one
        val_steps = sorted({json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()
                            if json.loads(line)["split"] == "val"})
        assert len(val_steps) > 1 and result["selected"]["step"] == val_steps[0]
        board = table(build_report(str(tmp_path), host=host, figures=False), "leaderboard", "ring8")
        assert labels(board)[2:4] == ["sharpness", "sharpness selected on val"]


def test_format_aliases_and_defaults_come_from_the_plugins(tmp_path):
    write_run(str(tmp_path), arch="mlp", loss="hinge", dataset="ring8", seed=0, final={"modes": _metric(8.0, True)})
    host = plugins.load(only=("markdown", "latex"), extra=[("third_party", ThirdParty())])

    def report(*formats):
        out = tmp_path / f"out-{'-'.join(formats) or 'default'}"
        args = ["report", "--results-dir", str(tmp_path), "--out", str(out)]
        result = CliRunner().invoke(cli_mod.cli, args + [a for f in formats for a in ("--format", f)],
                                    obj={"host": host})
        return result, sorted(f for f in os.listdir(out) if f.startswith("report.")) if out.exists() else []

    result, files = report("txt")
    assert result.exit_code == 0, result.output
    assert files == ["report.txt"]
    assert report("md", "tex")[1] == ["report.md", "report.tex"]
    assert report()[1] == ["report.md", "report.tex"]    # plain_text declares default = False
    result, files = report("pdf")
    # an unknown name is refused (ganbench main() makes it exit 2) with the valid names, nothing written
    assert isinstance(result.exception, UsageError) and "plain_text" in str(result.exception) and files == []


# ---------------------------------------------------------------------------------------------------
# No built-in name in the core

ATTRIBUTE_CALLS = {"getattr", "hasattr", "setattr", "getattr_static"}


def named_builtins(source: str, names: set[str]) -> list[tuple[int, str]]:
    """String literals in ``source`` that are one of ``names`` or a prefix of one ending in "_" (what a
    ``startswith("fid_")`` test needs); docstrings and attribute names given to getattr() do not count."""
    tree = ast.parse(source)
    skip = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skip.add(id(body[0].value))
        if isinstance(node, ast.Call) and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if func in ATTRIBUTE_CALLS:
                skip.add(id(node.args[1]))
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value
            if text in names or (text.endswith("_") and len(text) > 2 and any(n.startswith(text) for n in names)):
                hits.append((node.lineno, node.col_offset, text))
    return [(line, text) for line, _, text in sorted(hits)]


def test_no_builtin_metric_format_or_dataset_name_in_the_core():
    host = plugins.load()
    names = set(host.datasets.names()) | set(host.metrics.names()) | set(host.report_formats.names())
    for cls in host.metrics:
        names |= {re.sub(r"\*$", "", p) for p in (*cls.ranks, *cls.mode_collapse, *cls.counts_modes)}
    for cls in host.report_formats:
        names |= set(cls.aliases)
    assert {"ring8", "fid_lenet", "modes", "markdown", "md", "fid_infinity_"} <= names  # the list is real
    # the check itself catches what the core used to hold
    canary = ('ALIASES = {"md": "markdown"}\nok = name.startswith("fid_") or name in ("modes", "ring8")\n'
              'def f():\n    """modes"""\n    return getattr(cls, "modes", None), f"{x}: fid_infinity_"\n')
    assert [t for _, t in named_builtins(canary, names)] == ["md", "markdown", "fid_", "modes", "ring8"]

    core = sorted([*(ROOT / "ganbench").glob("*.py"), *(ROOT / "ganbench" / "report").glob("*.py")])
    assert len(core) > 10
    found = [f"{path.relative_to(ROOT)}:{line}: {text!r}" for path in core
             for line, text in named_builtins(path.read_text(), names)]
    assert found == [], "built-in plugin names in the core's code:\n" + "\n".join(found)


# ---------------------------------------------------------------------------------------------------
# Capabilities are declared on plugin classes; the step context is a protocol of api.py

def test_the_api_imports_nothing_from_the_trainer():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", "import sys, ganbench.api; "
                          "print(' '.join(m for m in sys.modules if m.startswith('ganbench')))"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert "ganbench.api" in out and "ganbench.training" not in out, out


def test_the_trainer_context_is_exactly_the_protocol():
    """Every operation api.StepContext names exists on the trainer's context, and nothing reaches
    the trainer itself (no public ``trainer`` attribute)."""
    from ganbench.api import StepContext
    from ganbench.training import TrainerStepContext
    declared = {n for n in vars(StepContext) if not n.startswith("_")} | set(StepContext.__annotations__)
    assert {"rng", "next_real_batch", "as_discriminator_sees", "clone_discriminator",
            "discriminator_update", "step", "real", "labels"} <= declared
    offered = {n for n in dir(TrainerStepContext) if not n.startswith("_")} | {
        f.name for f in __import__("dataclasses").fields(TrainerStepContext) if not f.name.startswith("_")}
    assert declared - offered == set()
    assert "trainer" not in offered


_PROBED = ("features", "sample_latent", "auxiliary_loss", "conditional", "vectorizable_seeds")


def test_the_core_probes_no_module_for_a_capability():
    """``getattr(x, "features")``/``hasattr(x, "sample_latent")`` and the like: capabilities are read
    from declarations (class attributes), never looked for on built objects."""
    pattern = re.compile(r"""\b(?:getattr|hasattr)\([^,()]+,\s*["'](%s)["']""" % "|".join(_PROBED))
    assert pattern.search('aux = getattr(D_for_g, "auxiliary_loss", None)')  # the check catches the old code
    core = sorted([*(ROOT / "ganbench").glob("*.py"), *(ROOT / "ganbench" / "report").glob("*.py")])
    found = [f"{path.relative_to(ROOT)}:{i}: {line.strip()}" for path in core
             for i, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert found == [], "\n".join(found)


def test_a_generator_method_is_used_only_when_declared():
    """A generator with ``sample_latent`` whose architecture does not declare ``samples_latent`` gets
    N(0, I) latents; declared, its own sampler is used."""
    import torch

    from ganbench.api import DataInfo
    from ganbench.testing.technique import TinyArchitecture, TinyBCELoss
    from ganbench.training import Trainer

    class Coded(TinyArchitecture):
        name = "coded"

        def build(self, data, hparams):
            G, D = super().build(data, hparams)
            G.sample_latent = lambda n, generator, device: torch.full((n, G.z_dim), 3.0)
            return G, D

    class CodedDeclared(Coded):
        samples_latent = True

    data = DataInfo(shape=(2,), kind="points")
    x = torch.randn(32, 2)
    hp = {**TinyArchitecture.defaults}
    plain = Trainer(Coded(), TinyBCELoss(hp), [], data, x, None, hp, seed=0)
    declared = Trainer(CodedDeclared(), TinyBCELoss(hp), [], data, x, None, hp, seed=0)
    assert not torch.all(plain.sample_latent(4)[0] == 3.0)
    assert torch.all(declared.sample_latent(4)[0] == 3.0)

