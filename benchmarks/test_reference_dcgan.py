"""ganbench against the pytorch/examples DCGAN loop at 64 px, and bf16 against fp32.

Four contenders train side by side, one training step each per round, fp32, batch 64, on random 64x64
RGB data held in memory (the reference's ``--dataset fake``):

* ``ganbench``: :class:`Trainer` with ``--arch dcgan --loss nonsaturating``, built from the plugins with
  their default hyperparameters as ``runner.build_trainer`` builds it (batch 64);
* ``ganbench_reuse``: the same with the protocol option ``reuse_fake_for_generator=true``;
* ``reference``: :mod:`reference_dcgan`, which scores the D step's fakes again in the G step;
* ``reference_fresh``: that loop drawing a fresh fake batch for G, as ganbench's protocol does (the
  same work per step as ``ganbench`` before its savings).

The ratios are throughput ratios (above 1: ganbench is faster), filled into the table of ``conftest.py``.
"""

from __future__ import annotations

import pytest
import torch

from ganbench import plugins, runner
from ganbench.api import DataInfo
from ganbench.doctor import precision_problem
from ganbench.training import Trainer
from reference_dcgan import ReferenceDCGAN
from speedtable import num_threads

BATCH = 64
DATA = DataInfo((3, 64, 64), 0)
HOST = plugins.load()
THREADS = [1, 2]


def ganbench_dcgan64(device: str, precision: str = "fp32", **hparams) -> Trainer:
    arch, loss = HOST.architectures.get("dcgan"), HOST.losses.get("nonsaturating")
    h = {**arch.defaults, **loss.defaults, "batch_size": BATCH, **hparams}
    x = torch.rand(BATCH * 4, *DATA.shape) * 2 - 1
    return Trainer(arch(), loss(h), [], DATA, x, None, h, seed=0, device=device, precision=precision)


@pytest.mark.parametrize("threads", THREADS, ids=[f"{n}thread" for n in THREADS])
def test_ganbench_vs_reference_dcgan64(benchmark, speed, threads):
    device = runner.resolve_device("auto")
    setting = f"fp32, batch {BATCH}, {threads} thread{'s' * (threads > 1)}, {device}"
    speed.skip_unless_threads(["reference", "reference_reuse", "reference_same_work"], setting, device, threads)
    with num_threads(threads):
        contenders = {
            "ganbench": ganbench_dcgan64(device).step,
            "ganbench_reuse": ganbench_dcgan64(device, reuse_fake_for_generator=True).step,
            "reference": ReferenceDCGAN(BATCH, device=device).step,
            "reference_fresh": ReferenceDCGAN(BATCH, device=device, reuse_fake=False).step,
        }
        benchmark.group = "reference-dcgan64"
        timings = speed.interleave(benchmark, contenders, images={name: BATCH for name in contenders},
                                   rounds=5, device=device)
    speed.ratio(benchmark, "reference", setting, "ganbench", "reference", timings)
    speed.ratio(benchmark, "reference_reuse", setting, "ganbench_reuse", "reference", timings)
    speed.ratio(benchmark, "reference_same_work", setting, "ganbench", "reference_fresh", timings)


@pytest.mark.parametrize("threads", THREADS, ids=[f"{n}thread" for n in THREADS])
def test_bf16_vs_fp32_dcgan64(benchmark, speed, threads):
    device = runner.resolve_device("auto")
    setting = f"ganbench DCGAN-64, batch {BATCH}, {threads} thread{'s' * (threads > 1)}, {device}"
    speed.skip_unless_threads("bf16", setting, device, threads)
    problem = precision_problem("bf16", device)  # the rule `ganbench run --precision bf16` applies
    if problem:
        speed.skip("bf16", setting, problem)
    with num_threads(threads):
        contenders = {"bf16": ganbench_dcgan64(device, "bf16").step, "fp32": ganbench_dcgan64(device).step}
        benchmark.group = "bf16-dcgan64"
        timings = speed.interleave(benchmark, contenders, images={name: BATCH for name in contenders},
                                   rounds=5, device=device)
    speed.ratio(benchmark, "bf16", setting, "bf16", "fp32", timings)
