"""The contract every :class:`ganbench.api.Task` plugin must meet, as a pytest mixin::

    from ganbench.testing import TaskContract

    class TestMyTask(TaskContract):
        plugin = MyTask

A task is declarations (what its generator is given, what data it needs, its metrics and table)
and :meth:`~ganbench.api.Task.supports`, which the sweep asks about every combination of a matrix:
it must accept an architecture, a loss and a dataset that declare the task, and refuse, with a
reason, those that do not.
"""

from __future__ import annotations

from ganbench import api
from ganbench.registry import NAME_PATTERN
from ganbench.testing.common import PluginContract, expect
from ganbench.testing.data import TinyPoints


def _fitting(task: type[api.Task]):
    """An architecture, a loss and a dataset declaring exactly what ``task`` asks for."""
    arch = type("FitArch", (api.Architecture,), {"name": "fit_arch", "tasks": (task.name,),
                                                  "generator_input": task.generator_input})
    loss = type("FitLoss", (api.Loss,), {"name": "fit_loss", "tasks": (task.name,)})
    data = type("FitData", (TinyPoints,), {"name": "fit_data", "holds": task.needs,
                                           "pair_input": task.generator_input if task.needs == "pairs" else ""})
    return arch, loss, data


class TaskContract(PluginContract):
    kind = "tasks"

    def test_declares_what_its_generator_is_given_and_what_data_it_needs(self):
        task = self.plugin_class()
        expect(task.generator_input in api.GENERATOR_INPUTS,
               f"`generator_input` one of {', '.join(api.GENERATOR_INPUTS)}", task.generator_input)
        expect(task.needs in api.TASK_DATA, f"`needs` one of {', '.join(api.TASK_DATA)}", task.needs)

    def test_names_its_metrics_and_its_table(self):
        task = self.plugin_class()
        expect(isinstance(task.metrics, tuple) and all(isinstance(m, str) and NAME_PATTERN.match(m)
                                                       for m in task.metrics),
               "`metrics` a tuple of metric names (snake_case; empty: every metric of the dataset)", task.metrics)
        expect(isinstance(task.table, str) and task.table.strip(), "`table`, the title of its leaderboard table",
               task.table)

    def test_accepts_plugins_that_declare_it(self):
        task = self.plugin_class()
        arch, loss, data = _fitting(task)
        expect(task.supports(arch, loss, data) is None,
               "supports() to accept an architecture and a loss declaring the task and a dataset holding "
               f"{task.needs}", task.supports(arch, loss, data))

    def test_refuses_plugins_that_do_not_declare_it_with_a_reason(self):
        task = self.plugin_class()
        arch, loss, data = _fitting(task)
        other = next(kind for kind in api.TASK_DATA if kind != task.needs)
        cases = {
            "an architecture serving other tasks": (type("OtherArch", (arch,), {"tasks": ("other_task",)}), loss, data),
            "a loss serving other tasks": (arch, type("OtherLoss", (loss,), {"tasks": ("other_task",)}), data),
            f"a dataset holding {other}": (arch, loss, type("OtherData", (data,), {"holds": other})),
        }
        for what, combination in cases.items():
            reason = task.supports(*combination)
            expect(isinstance(reason, str) and reason.strip(), f"supports() to refuse {what} with a reason", reason)
