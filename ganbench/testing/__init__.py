"""The plugin author's kit: contract tests for all seven kinds of plugin, tiny data, a host builder.

Name the plugin class in a test class; nothing needs to be installed::

    from ganbench.testing import LossContract

    class TestMyLoss(LossContract):
        plugin = MyLoss

See docs/plugins.md. The pytest plugin :mod:`ganbench.testing.pytest_plugin` (loaded automatically
once ganbench is installed) adds the fixtures ``ganbench_host``, ``tiny_points``, ``tiny_digits``,
``tiny_mnist`` and ``results_dir``.
"""

import pytest

# Plain asserts inside the contracts then report the values they compared, as in a test module
# (registered before the modules are imported, which is when pytest can rewrite them).
pytest.register_assert_rewrite(*(f"ganbench.testing.{m}" for m in (
    "common", "architecture", "loss", "technique", "dataset", "metric", "report_format", "task")))

from ganbench.testing.common import (  # noqa: E402
    PluginContract, expect, installed_host, invoke_cli, make_host, run_stopped_and_resumed, stopped_after_checkpoint)
from ganbench.testing.data import TINY_DATASETS, TinyDigits, TinyMnist, TinyPoints  # noqa: E402
from ganbench.testing.architecture import ArchitectureContract  # noqa: E402
from ganbench.testing.loss import LossContract  # noqa: E402
from ganbench.testing.technique import TechniqueContract  # noqa: E402
from ganbench.testing.dataset import DatasetContract  # noqa: E402
from ganbench.testing.metric import MetricContract, evaluation_context  # noqa: E402
from ganbench.testing.report_format import ReportFormatContract, write_tiny_results  # noqa: E402
from ganbench.testing.task import TaskContract  # noqa: E402

#: The contract of each kind, by ``ganbench new-plugin --kind``.
CONTRACTS = {
    "architecture": ArchitectureContract, "loss": LossContract, "technique": TechniqueContract,
    "dataset": DatasetContract, "metric": MetricContract, "report_format": ReportFormatContract,
    "task": TaskContract,
}

__all__ = [
    "invoke_cli", "run_stopped_and_resumed", "stopped_after_checkpoint",
    "ArchitectureContract", "LossContract", "TechniqueContract", "DatasetContract", "MetricContract",
    "ReportFormatContract", "TaskContract", "PluginContract", "CONTRACTS", "make_host", "installed_host", "expect",
    "TinyPoints", "TinyDigits", "TinyMnist", "TINY_DATASETS", "evaluation_context", "write_tiny_results",
]
