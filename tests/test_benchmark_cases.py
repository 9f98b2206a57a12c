"""``make benchmark`` times every built-in architecture, and each of its cases trains.

The benchmarks are not part of the suite (timings are never asserted), so nothing ran them when
pix2pix and SRGAN arrived: ``make benchmark`` built them as noise-to-image generators and failed on
their first step for two days. Here each case builds its trainer as the benchmark does and takes one
step, untimed.
"""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import test_train_step as bench  # noqa: E402  (benchmarks/ is not a package)

from ganbench import runner  # noqa: E402
from ganbench.spec import Budget, RunSpec  # noqa: E402


def test_every_builtin_architecture_has_a_benchmark_case():
    timed = {arch for arch, _ in bench.CASES} | {arch for arch, *_ in bench.TASK_CASES}
    assert timed == {a.name for a in bench.HOST.architectures}


@pytest.mark.parametrize("arch_name, shape", bench.CASES, ids=[f"{a}-{s}" for a, s in bench.CASES])
def test_generation_case_takes_a_step(arch_name, shape):
    torch.set_num_threads(1)
    trainer = bench._trainer(arch_name, "nonsaturating", bench.SHAPES[shape], "cpu")
    losses = trainer.step()
    assert torch.isfinite(losses["loss_g"])


@pytest.mark.parametrize("arch_name, task, loss_name, dataset", bench.TASK_CASES,
                         ids=[f"{a}-{d}" for a, _, _, d in bench.TASK_CASES])
def test_task_case_takes_a_step_on_its_tasks_data(arch_name, task, loss_name, dataset):
    torch.set_num_threads(1)
    spec = RunSpec(arch_name, loss_name, dataset, 0, Budget("steps", 1), task=task, hparams={"batch_size": 8})
    _, trainer = runner.build_trainer(bench.HOST, spec, runner.resolve_hparams(bench.HOST, spec), device="cpu")
    assert trainer.task.name == task != "generation"
    losses = trainer.step()
    assert torch.isfinite(losses["loss_g"])
