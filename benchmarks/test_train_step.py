"""Training-step throughput of the built-in architectures, and the harness's overhead.

Run with ``make benchmark`` (not part of the test suite: timings on a shared CPU are noisy, so they are
reported, never asserted). Each benchmark times ``STEPS`` full training steps (D and G updates) at
batch 64 and stores images/s in ``extra_info``; ``test_harness_overhead`` times the harness's
Trainer against a hand-written loop for the same model in the same process, for a side-by-side ratio.
"""

import pytest
import torch
import torch.nn.functional as F

from ganbench import plugins, runner
from ganbench.api import DataInfo
from ganbench.training import Trainer

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
         if a.supports(data) is None and not (a.conditional and not data.num_classes)]


@pytest.mark.parametrize("arch_name, shape", CASES, ids=[f"{a}-{s}" for a, s in CASES])
def test_train_step(benchmark, arch_name, shape):
    device = runner.resolve_device("auto")
    trainer = _trainer(arch_name, "nonsaturating", SHAPES[shape], device)

    def steps():
        for _ in range(STEPS):
            trainer.step()
        _sync(device)

    benchmark.pedantic(steps, rounds=3, warmup_rounds=1)
    benchmark.extra_info.update(device=device, batch=BATCH, steps=STEPS,
                                images_per_second=STEPS * BATCH * trainer.n_critic / benchmark.stats.stats.min)


@pytest.mark.parametrize("impl", ["harness", "hand_written"])
def test_harness_overhead(benchmark, impl):
    """The same DCGAN on 28px grey data with the non-saturating loss, through Trainer vs by hand."""
    device = runner.resolve_device("auto")
    trainer = _trainer("dcgan", "nonsaturating", SHAPES["mnist"], device)
    G, D, opt_g, opt_d = trainer.G, trainer.D, trainer.opt_g, trainer.opt_d
    data = trainer.train_x

    def hand_written():
        for i in range(STEPS):
            real = data[(i % 4) * BATCH:(i % 4 + 1) * BATCH]
            fake = G(torch.randn(BATCH, trainer.z_dim, device=device), None)
            loss_d = F.softplus(-D(real, None)).mean() + F.softplus(D(fake.detach(), None)).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            loss_g = F.softplus(-D(G(torch.randn(BATCH, trainer.z_dim, device=device), None), None)).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
        _sync(device)

    def harness():
        for _ in range(STEPS):
            trainer.step()
        _sync(device)

    benchmark.group = "harness-overhead"
    benchmark.pedantic(harness if impl == "harness" else hand_written, rounds=5, warmup_rounds=1)
