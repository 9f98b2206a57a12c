"""ganbench.testing on a third-party package that is not installed: one entry point, five plugins.

The package (tests/kit_plugin) is imported from its source directory; nothing is pip-installed, and
the contracts name its classes directly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ganbench.testing import (ArchitectureContract, DatasetContract, LossContract, MetricContract,
                              ReportFormatContract, TechniqueContract, TinyPoints, make_host)

sys.path.insert(0, str(Path(__file__).parent / "kit_plugin"))
import ganbench_multi  # noqa: E402  (from the source tree, on purpose: the kit works uninstalled)


class TestMultiLoss(LossContract):
    plugin = ganbench_multi.WassersteinLP   # one-sided penalty: zero at a fresh critic is correct


class TestMultiArchitecture(ArchitectureContract):
    plugin = ganbench_multi.TinyMLP


class TestMultiMetric(MetricContract):
    plugin = ganbench_multi.MeanShift


class TestMultiTechnique(TechniqueContract):
    plugin = ganbench_multi.InputNoise


class TestMultiReportFormat(ReportFormatContract):
    plugin = ganbench_multi.PlainText


class TestTinyPoints(DatasetContract):
    plugin = TinyPoints


def test_the_one_entry_point_registers_all_five():
    # What `ganbench` does with the entry point `multi = "ganbench_multi"`, minus the installing.
    host = make_host(ganbench_multi, name="multi")
    for kind, name in [("losses", "multi_wgan_lp"), ("architectures", "multi_mlp"), ("metrics", "multi_mean_shift"),
                       ("techniques", "multi_input_noise"), ("report_formats", "multi_text")]:
        registry = getattr(host, kind)
        assert name in registry.names(), (kind, registry.names())
        assert registry.plugin_of(name) == "multi"


def test_wgan_lp_penalty_is_zero_at_a_flat_critic():
    """The case the old loss contract refused: a 1-Lipschitz critic gets no penalty, and no gradient."""
    import torch
    from torch import nn

    critic = nn.Sequential(nn.Linear(2, 1))
    with torch.no_grad():
        critic[0].weight.fill_(0.1)
    loss = ganbench_multi.WassersteinLP(ganbench_multi.WassersteinLP.defaults)
    x = torch.randn(8, 2)
    penalty = loss.penalty(lambda v, y: critic(v).squeeze(1), x, x + 1, None, torch.Generator().manual_seed(0))
    assert float(penalty.detach()) == 0.0


def test_failures_say_what_was_expected_and_what_came():
    from ganbench.api import Loss

    class Undocumented(Loss):
        """A loss whose citation has no year."""
        name = "undocumented"
        paper = "someone"

    class TestIt(LossContract):
        plugin = Undocumented

    with pytest.raises(AssertionError, match=r"expected a year in the `paper` citation, got 'someone'"):
        TestIt().test_documented_and_cited()


def test_a_class_of_the_wrong_kind_is_refused_with_its_name():
    from ganbench.testing.common import Registrar
    with pytest.raises(TypeError, match="expected subclasses of the ganbench.api base classes"):
        Registrar([int])


def test_fixtures_of_the_pytest_plugin(ganbench_host, tiny_points, tiny_digits, tiny_mnist, results_dir):
    assert tiny_points.load("train")[0].shape[1:] == (2,)
    assert tiny_digits.load("val")[0].shape[1:] == (1, 8, 8)
    assert tiny_mnist.load("test")[0].shape[1:] == (1, 28, 28)
    assert (results_dir / "runs").is_dir() and not any((results_dir / "runs").iterdir())
    host = ganbench_host(ganbench_multi.TinyMLP)
    assert host.architectures.get("multi_mlp") is ganbench_multi.TinyMLP


def test_the_pytest_plugin_is_registered_through_an_entry_point():
    from importlib.metadata import entry_points
    eps = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert eps.get("ganbench") == "ganbench.testing.pytest_plugin"


def test_the_registrar_registers_every_kind_through_its_own_hook():
    """One registration hook per kind of the kit's table, each a real hookspec, each registering only
    its kind's classes."""
    from ganbench import hookspecs
    from ganbench.testing.common import KINDS, Registrar
    hooks = {f"ganbench_register_{kind}" for kind in KINDS}
    assert hooks <= set(vars(hookspecs)) and all(callable(getattr(Registrar, h)) for h in hooks)
    host = make_host(ganbench_multi.WassersteinLP, TinyPoints)
    assert host.losses.names() == ["multi_wgan_lp"] and host.datasets.names() == [TinyPoints.name]
    assert host.architectures.names() == [] and host.report_formats.names() == []
