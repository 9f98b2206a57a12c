"""K seeds of the MLP on ring8: K solo ``Trainer.step`` calls against one batched step (ganbench.vectorized).

Run with ``make benchmark`` or ``pytest benchmarks/test_vectorized.py --benchmark-only`` (reported, never
asserted: a shared CPU is noisy). Each round times ``STEPS`` training steps of all ``K`` seeds at the
MLP's defaults (batch 100, 128 x 2 hidden units) three ways, interleaved: ``sequential`` (K trainers one
after another, what ``--vectorize-seeds 1`` does in one process), ``grouped`` (baddbmm over the stacked
weights, the default backend for the MLP) and ``vmap`` (torch.func). Both ratios go to the ``vectorised``
slot of the speed table, on the current ``torch.get_num_threads()``.
"""

import pytest
import torch

from ganbench import plugins, runner, vectorized
from ganbench.spec import Budget, RunSpec

K = 8
STEPS = 10
HOST = plugins.load()


def _trainers(loss):
    out, rngs = [], []
    for seed in range(K):
        spec = RunSpec(arch="mlp", loss=loss, dataset="ring8", seed=seed, budget=Budget("steps", 300))
        out.append(runner.build_trainer(HOST, spec, runner.resolve_hparams(HOST, spec))[1])
        rngs.append(torch.get_rng_state())
    return out, rngs


@pytest.mark.parametrize("loss", ["nonsaturating", "r1"])
def test_vectorised_vs_sequential(benchmark, speed, loss):
    solo, _ = _trainers(loss)
    groups = {backend: vectorized.SeedGroup(*_trainers(loss), backend=backend) for backend in ("grouped", "vmap")}

    def sequential():
        for _ in range(STEPS):
            for t in solo:
                t.step()

    def batched(group):
        def run():
            for _ in range(STEPS):
                group.step()
        return run

    contenders = {"sequential": sequential, **{name: batched(g) for name, g in groups.items()}}
    images = STEPS * K * solo[0].batch_size * solo[0].n_critic
    benchmark.group = f"vectorised-{loss}"
    timings = speed.interleave(benchmark, contenders, images={name: images for name in contenders})
    setting = f"MLP ring8 {loss}, K={K}, batch {solo[0].batch_size}, fp32, {torch.get_num_threads()} thread(s)"
    for backend in groups:
        speed.ratio(benchmark, "vectorised", f"{setting}, {backend}", backend, "sequential", timings)
