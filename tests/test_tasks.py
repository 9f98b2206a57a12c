"""Benchmark tasks (api.Task): declared, listed, chosen per matrix or with --task, and read when the
matrix is expanded. Unconditional generation is the built-in ``generation`` task, and its runs keep
their names and results."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ganbench import api, hookimpl, sweep
from ganbench.errors import ExitCode
from ganbench.spec import Budget, RunSpec
from ganbench.study import parse
from ganbench.testing import TaskContract, TinyPoints, invoke_cli, make_host

from ganbench_plugins.archs.mlp import MLP
from ganbench_plugins.datasets.ring8 import Ring8
from ganbench_plugins.losses.hinge import Hinge
from ganbench_plugins.losses.nonsaturating import NonSaturating
from ganbench_plugins.metrics.density_coverage import DensityCoverage
from ganbench_plugins.metrics.mode_coverage import ModeCoverage
from ganbench_plugins.tasks.generation import Generation
from ganbench_plugins.tasks.super_resolution import SuperResolution


class TestGeneration(TaskContract):
    plugin = Generation


class PointsTask(api.Task):
    """A generation task on points scored by mode coverage alone (a third-party task in miniature)."""

    name = "points_task"
    paper = "Srivastava, A. et al. (2017). VEEGAN. NeurIPS 2017."
    metrics = ("mode_coverage",)
    table = "Points"


class TestPointsTask(TaskContract):
    plugin = PointsTask


class TokensTask(api.Task):
    """Text in miniature: a generator given a token sequence, trained on (input, target) pairs."""

    name = "tokens_task"
    paper = "Yu, L. et al. (2017). SeqGAN: Sequence Generative Adversarial Nets with Policy Gradient. AAAI 2017."
    generator_input = "tokens"
    needs = "pairs"
    table = "Text"


class PointsMLP(MLP):
    """The MLP, declared for both generation and the points task."""

    name = "points_mlp"
    tasks = ("generation", "points_task", "tokens_task")


class TokensMLP(MLP):
    """An MLP that says its generator takes tokens."""

    name = "tokens_mlp"
    tasks = ("tokens_task",)
    generator_input = "tokens"


class PointsLoss(NonSaturating):
    """The non-saturating loss, declared for both generation and the points task."""

    name = "points_loss"
    tasks = ("generation", "points_task", "tokens_task")


class PairedRing(Ring8):
    """The ring, declared as (input, target) pairs: what a translation task needs."""

    name = "paired_ring"
    holds = "pairs"
    pair_input = "tokens"


class Registration:
    @hookimpl
    def ganbench_register_tasks(self, registry):
        registry.add(PointsTask)
        registry.add(TokensTask)


def _host():
    return make_host(Generation, MLP, PointsMLP, TokensMLP, NonSaturating, PointsLoss, Hinge, Ring8, PairedRing,
                     ModeCoverage, DensityCoverage, Registration())


def _plan(text: str, host):
    return sweep.expand(parse(text), host)


STUDY = """
[study]
name = "tasks"
[[matrix]]
task = "{task}"
archs = ["mlp", "points_mlp"]
losses = ["nonsaturating", "points_loss"]
datasets = ["{dataset}"]
[budget]
default = "steps=5"
"""


def test_a_task_runs_only_what_declares_it_and_is_scored_by_its_metrics():
    host = _host()
    plan = _plan(STUDY.format(task="points_task", dataset="ring8"), host)
    assert [(s.arch, s.loss) for s in plan.runs] == [("points_mlp", "points_loss")]
    assert all(s.task == "points_task" and s.metrics == ("mode_coverage",) for s in plan.runs)
    reasons = dict(plan.skipped)
    assert reasons["mlp-nonsaturating-ring8"] == "task points_task: architecture mlp serves generation"
    assert reasons["points_mlp-nonsaturating-ring8"] == (
        "task points_task: loss nonsaturating serves generation, super_resolution, paired_translation, "
        "unpaired_translation, text")
    # the same matrix as generation: every pair declares it, every metric of the ring applies
    generation = _plan(STUDY.format(task="generation", dataset="ring8"), host)
    assert len(generation.runs) == 4 and not generation.skipped
    assert {frozenset(s.metrics) for s in generation.runs} == {frozenset({"mode_coverage", "density_coverage"})}


def test_a_dataset_that_holds_other_data_and_an_input_the_trainer_cannot_give_are_skipped():
    host = _host()
    plan = _plan(STUDY.format(task="points_task", dataset="paired_ring"), host)
    assert not plan.runs
    assert "task points_task needs samples; dataset paired_ring holds pairs" in dict(plan.skipped).values()
    # an architecture whose generator takes noise cannot serve a task that gives it tokens ...
    plan = _plan(STUDY.format(task="tokens_task", dataset="paired_ring").replace(
        'archs = ["mlp", "points_mlp"]', 'archs = ["points_mlp", "tokens_mlp"]'), host)
    assert not plan.runs
    skipped = dict(plan.skipped)
    assert skipped["points_mlp-points_loss-paired_ring"] == "task tokens_task gives its generator tokens; points_mlp's takes noise"
    # ... and one that takes tokens, with a loss and data that fit, is refused for what the trainer gives
    assert skipped["tokens_mlp-points_loss-paired_ring"] == (
        "task tokens_task: its generator is given tokens, and the trainer gives a generator noise, image, "
        "low_resolution only")


def test_generation_runs_keep_the_names_they_had_before_tasks():
    spec = RunSpec(arch="mlp", loss="nonsaturating", dataset="ring8", seed=0, budget=Budget("steps", 5))
    assert spec.task == "generation"
    assert "task" not in json.dumps({k: v for k, v in spec.to_dict().items() if k != "task"})
    canonical = {k: v for k, v in spec.to_dict().items() if k not in ("study", "plugin_versions", "ddp", "task",
                                                                       "compile_mode")}
    import hashlib
    expected = hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]
    assert spec.content_hash() == expected
    other = dataclasses.replace(spec, task="points_task")
    assert other.content_hash() != spec.content_hash()
    assert RunSpec.from_dict(other.to_dict()) == other


def test_list_tasks_shows_each_task_with_its_data_and_metrics(capsys, monkeypatch):
    host = _host()
    monkeypatch.setattr("ganbench.plugins.load", lambda *a, **k: host)
    code, out, _ = invoke_cli(capsys, "list", "tasks", "--json")
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)}
    assert set(rows) == {"generation", "points_task", "tokens_task"}
    assert rows["points_task"]["metrics"] == ["mode_coverage"]
    assert rows["points_task"]["architectures"] == ["points_mlp"] and rows["tokens_task"]["architectures"] == [
        "tokens_mlp"]   # points_mlp names the task, but its generator takes noise
    assert rows["generation"]["datasets"] == ["ring8"] and rows["tokens_task"]["datasets"] == ["paired_ring"]
    assert sorted(rows["generation"]["metrics"]) == ["density_coverage", "mode_coverage"]
    assert rows["tokens_task"]["trainable"] is False and rows["generation"]["trainable"] is True
    code, out, _ = invoke_cli(capsys, "list", "tasks")
    line = next(l for l in out.splitlines() if l.startswith("points_task\t"))
    assert "generator input: noise" in line and "metrics: mode_coverage" in line


def test_task_on_the_command_line_trains_its_runs_and_an_unknown_one_is_one_line(capsys, monkeypatch, tmp_path):
    host = _host()
    monkeypatch.setattr("ganbench.plugins.load", lambda *a, **k: host)
    common = ["run", "--arch", "points_mlp", "--loss", "points_loss", "--dataset", "ring8", "--budget", "steps=3",
              "--results-dir", tmp_path, "-q", "--json"]
    code, out, err = invoke_cli(capsys, *common, "--task", "points_task")
    assert code == ExitCode.OK, err
    (run,) = (tmp_path / "runs").iterdir()
    spec = json.loads((run / "spec.json").read_text())["spec"]
    result = json.loads((run / "result.json").read_text())
    assert spec["task"] == "points_task" and result["status"] == "completed" and result["final"]
    assert {v["extra"]["metric"] for v in result["final"].values()} == {"mode_coverage"}
    code, out, err = invoke_cli(capsys, *common, "--task", "no_such_task")
    assert code == ExitCode.USAGE_ERROR
    line = err.strip().splitlines()
    assert len(line) == 1 and "no_such_task" in line[0] and "points_task" in line[0]
    assert len(list((tmp_path / "runs").iterdir())) == 1


def test_the_kit_registers_a_task_class_without_installing_it():
    host = make_host(PointsTask, TinyPoints)
    assert host.tasks.get("points_task") is PointsTask
    with pytest.raises(Exception, match="unknown task"):
        host.tasks.get("nope")


class TestSuperResolution(TaskContract):
    plugin = SuperResolution


@pytest.mark.parametrize("metric, task_args, expected", [
    ("pixel_fidelity", ("--dataset", "mnist5k"),
     "it compares outputs with targets, and task generation gives the generator no input"),
    ("density_coverage", ("--task", "super_resolution", "--dataset", "mnist5k_x4"),
     "task super_resolution is scored by"),
])
def test_a_named_metric_the_task_rules_out_is_refused_in_one_line_with_its_reason(capsys, tmp_path, metric, task_args,
                                                                                  expected):
    """A metric that applies to the dataset but not to the task's runs (it needs pairs, or the task names
    its own metrics) leaves them measuring nothing: one line saying why, exit 2, nothing run."""
    arch = "srgan" if "super_resolution" in task_args else "dcgan"
    args = ["run", "--arch", arch, "--loss", "nonsaturating", "--budget", "steps=3",
            "--metric", metric, "--results-dir", tmp_path, *task_args]
    code, out, err = invoke_cli(capsys, *args)
    assert code == ExitCode.USAGE_ERROR, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "would measure nothing" in lines[0], lines
    assert not (tmp_path / "runs").exists()
