"""Training-step throughput of the built-in architectures, and the harness's overhead.

Run with ``make benchmark`` (not part of the test suite: timings on a shared CPU are noisy, so they are
reported, never asserted). Each benchmark times ``STEPS`` full training steps (D and G updates) at
batch 64 and stores images/s in ``extra_info``; ``test_harness_overhead`` interleaves the harness's
Trainer with a hand-written loop doing the same operations, for the first ratio of the table
(``conftest.py``).
"""

import pytest
import torch
import torch.nn.functional as F

from ganbench import plugins, runner
from ganbench.api import GENERATION, DataInfo
from ganbench.spec import Budget, RunSpec
from ganbench.training import Trainer

from speedtable import machine, num_threads

STEPS = 5
BATCH = 64
HOST = plugins.load()
SHAPES = {"points": DataInfo((2,), 0, "points"), "mnist": DataInfo((1, 28, 28), 10), "cifar": DataInfo((3, 32, 32), 10)}


def _trainer(arch_name, loss_name, data, device):
    arch = HOST.architectures.get(arch_name)
    hparams = {**arch.defaults, **HOST.losses.get(loss_name).defaults, "batch_size": BATCH}
    x = torch.rand(BATCH * 4, *data.shape) * 2 - 1
    y = torch.randint(max(data.num_classes, 1), (BATCH * 4,)) if data.num_classes else None
    return Trainer(arch(), HOST.losses.get(loss_name)(hparams), [], data, x, y, hparams, seed=0, device=device)


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


CASES = [(a.name, shape) for a in HOST.architectures for shape, data in SHAPES.items()
         if GENERATION in a.tasks and a.supports(data) is None and not (a.conditional and not data.num_classes)]


def _task_setting(arch) -> tuple[str, str, str] | None:
    """``(task, loss, dataset)``: the first of the architecture's own tasks with a loss and a dataset here
    (available now) that it runs with, as the sweep decides it (``runner.incompatibility``)."""
    losses = sorted(HOST.losses, key=lambda loss: loss.name != "nonsaturating")
    for task in arch.tasks:
        for dataset in HOST.datasets:
            if dataset().availability() is not None:
                continue
            for loss in losses:
                spec = RunSpec(arch.name, loss.name, dataset.name, 0, Budget("steps", STEPS), task=task)
                if runner.incompatibility(HOST, spec) is None:
                    return task, loss.name, dataset.name
    return None


# Architectures built for another task (its generator is given an image, a low-resolution image or
# trains on tokens) are timed on that task's data, through the sweep's own trainer construction. (They
# used to be timed as noise-to-image generators and failed there.) SeqGAN's first steps are its
# maximum-likelihood pre-training; its policy-gradient steps cost far more (studies/text.toml).
TASK_CASES = [(a.name, *setting) for a in HOST.architectures if GENERATION not in a.tasks
              for setting in [_task_setting(a)] if setting]


@pytest.mark.parametrize("arch_name, task, loss_name, dataset", TASK_CASES,
                         ids=[f"{a}-{d}" for a, _, _, d in TASK_CASES])
def test_task_train_step(benchmark, arch_name, task, loss_name, dataset):
    device = runner.resolve_device("auto")
    spec = RunSpec(arch_name, loss_name, dataset, 0, Budget("steps", STEPS), task=task,
                   hparams={"batch_size": BATCH})
    _, trainer = runner.build_trainer(HOST, spec, runner.resolve_hparams(HOST, spec), device=device)
    _time_steps(benchmark, trainer, device)


@pytest.mark.parametrize("arch_name, shape", CASES, ids=[f"{a}-{s}" for a, s in CASES])
def test_train_step(benchmark, arch_name, shape):
    device = runner.resolve_device("auto")
    trainer = _trainer(arch_name, "nonsaturating", SHAPES[shape], device)
    _time_steps(benchmark, trainer, device)


def _time_steps(benchmark, trainer: Trainer, device: str) -> None:
    def steps():
        for _ in range(STEPS):
            trainer.step()
        _sync(device)

    benchmark.pedantic(steps, rounds=3, warmup_rounds=1)
    benchmark.extra_info.update(device=device, batch=BATCH, steps=STEPS, threads=torch.get_num_threads(),
                                images_per_second=STEPS * BATCH * trainer.n_critic / benchmark.stats.stats.min,
                                machine=machine())


@pytest.mark.parametrize("threads", [1, 2], ids=["1thread", "2thread"])
def test_harness_overhead(benchmark, speed, threads):
    """The same DCGAN on 28px grey data with the non-saturating loss, through Trainer vs by hand.

    The hand-written loop does the operations the harness does (fakes drawn under no_grad for D, a fresh
    fake batch for G, the generator backward into G's parameters only), so the ratio is the harness's
    own per-step cost: its bookkeeping, the epoch-order batch gather and the plugin calls."""
    device = runner.resolve_device("auto")
    setting = (f"DCGAN-28 grey, fp32, batch {BATCH}, {STEPS} steps a round, {threads} thread{'s' * (threads > 1)}, "
               f"{device}")
    speed.skip_unless_threads("harness", setting, device, threads)
    with num_threads(threads):
        timings = _harness_vs_hand_written(benchmark, speed, device)
    speed.ratio(benchmark, "harness", setting, "harness", "hand_written", timings)


def _harness_vs_hand_written(benchmark, speed, device):
    trainer = _trainer("dcgan", "nonsaturating", SHAPES["mnist"], device)
    by_hand = _trainer("dcgan", "nonsaturating", SHAPES["mnist"], device)  # its own nets and optimisers
    G, D, opt_g, opt_d = by_hand.G, by_hand.D, by_hand.opt_g, by_hand.opt_d
    data, z_dim = by_hand.train_x, by_hand.z_dim
    g_params = list(G.parameters())
    ones = torch.ones(BATCH, device=device)

    def hand_written():
        for i in range(STEPS):
            real = data[(i % 4) * BATCH:(i % 4 + 1) * BATCH]
            with torch.no_grad():
                fake = G(torch.randn(BATCH, z_dim, device=device), None)
            loss_d = F.binary_cross_entropy_with_logits(D(real, None), ones) + F.softplus(D(fake, None)).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            loss_g = F.softplus(-D(G(torch.randn(BATCH, z_dim, device=device), None), None)).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward(inputs=g_params)
            opt_g.step()

    def harness():
        for _ in range(STEPS):
            trainer.step()

    benchmark.group = "harness-overhead"
    return speed.interleave(benchmark, {"harness": harness, "hand_written": hand_written},
                            images={"harness": STEPS * BATCH, "hand_written": STEPS * BATCH}, rounds=7, device=device)
