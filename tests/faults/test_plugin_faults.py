"""Plugins that misbehave around a run (issue 11, items 3 and 5): observers that raise or draw random
numbers, metrics whose value names are invalid or clash with another metric's."""

import pytest
import torch

from faultlib import Registers, cli_args, invoke, numbers, spec, with_plugin
from ganbench import hookimpl, plugins, runner
from ganbench.api import Metric, MetricValue
from ganbench.errors import PluginError
from ganbench.spec import Budget, ReferenceSpec


class Raising:
    @hookimpl
    def ganbench_run_start(self, spec, run_dir):
        raise RuntimeError("observer broke at the start")

    @hookimpl
    def ganbench_run_end(self, spec, result, run_dir):
        raise ValueError("observer broke at the end")


class Drawing:
    """Draws from the global random stream, which gradient penalties train on."""

    @hookimpl
    def ganbench_run_start(self, spec, run_dir):
        torch.rand(1000)


@pytest.fixture(scope="module")
def clean_host():
    return plugins.load()


@pytest.mark.parametrize("vectorize", [False, True])
def test_a_raising_observer_changes_no_outcome_and_is_logged_once(tmp_path, clean_host, monkeypatch, capsys,
                                                                  vectorize):
    monkeypatch.setattr(runner, "_failed_observers", set(), raising=False)
    host = plugins.load(extra=[("raising_observer", Raising())])
    specs = [spec(seed=seed, budget=Budget("steps", 10), metrics=()) for seed in (0, 1, 2)]
    if vectorize:
        got = runner.execute_group(specs, tmp_path / "observed", host=host)
        want = runner.execute_group(specs, tmp_path / "clean", host=clean_host)
    else:
        got = [runner.execute(s, tmp_path / "observed", host=host) for s in specs]
        want = [runner.execute(s, tmp_path / "clean", host=clean_host) for s in specs]
    assert [numbers(r) for r in got] == [numbers(r) for r in want]
    assert all(r["status"] == "completed" for r in got)
    lines = [line for line in capsys.readouterr().err.splitlines() if "raising_observer" in line]
    assert len(lines) == 1 and "observer broke at the start" in lines[0], lines


def test_an_observer_drawing_random_numbers_changes_no_outcome(tmp_path, clean_host):
    host = plugins.load(extra=[("drawing_observer", Drawing())])
    penalised = spec(loss="wgan_gp", budget=Budget("steps", 20), metrics=())
    got = runner.execute(penalised, tmp_path / "observed", host=host)
    want = runner.execute(penalised, tmp_path / "clean", host=clean_host)
    assert got["status"] == "completed" and numbers(got) == numbers(want)


class Impostor(Metric):
    """Returns a value named like the built-in mode count."""

    name = "impostor"

    def compute(self, ctx, split):
        return [MetricValue("modes", 99.0, True, 10, "")]


class BadlyNamed(Metric):
    """Returns a value whose name could not be stored or shown safely."""

    name = "badly_named"

    def compute(self, ctx, split):
        return [MetricValue("m<script>|a|b\\", 1.0, True, 10, ""), MetricValue("fine", 2.0, True, 10, "")]


@pytest.fixture(scope="module")
def metric_host():
    return plugins.load(extra=[("odd_metrics", Registers("metrics", Impostor, BadlyNamed))])


def test_a_metric_value_name_clash_fails_the_run_naming_both_metrics(tmp_path, metric_host):
    result = runner.execute(spec(metrics=("mode_coverage", "impostor"), budget=Budget("steps", 10)), tmp_path,
                            host=metric_host)
    assert result["status"] == "failed"
    assert "'mode_coverage'" in result["error"] and "'impostor'" in result["error"] and "'modes'" in result["error"]


def test_a_metric_value_name_clash_is_refused_before_any_run_trains(tmp_path, monkeypatch, capsys):
    with_plugin(monkeypatch, "odd_metrics", Registers("metrics", Impostor, BadlyNamed))
    code, out, err = invoke(capsys, *cli_args(tmp_path, "--metric", "impostor"))
    assert code == 2, err
    assert err.count("\n") == 1 and "'impostor'" in err and "'mode_coverage'" in err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_the_reference_refuses_a_clash_too(tmp_path, metric_host):
    with pytest.raises(PluginError, match="impostor"):
        runner.execute_reference(ReferenceSpec("ring8", ("mode_coverage", "impostor"), threads=1), tmp_path,
                                 host=metric_host)


def test_an_invalid_value_name_is_refused_and_the_other_metrics_kept(tmp_path, metric_host):
    result = runner.execute(spec(metrics=("mode_coverage", "badly_named"), budget=Budget("steps", 10)), tmp_path,
                            host=metric_host)
    assert result["status"] == "completed"
    assert sorted(result["final"]) == ["hq_percent", "modes", "reverse_kl"]
    assert "not a valid name" in result["metric_errors"]["badly_named"]
