"""K seeds of one configuration: K solo ``Trainer.step`` calls against one batched step (ganbench.vectorized).

Run with ``make benchmark`` or ``pytest benchmarks/test_vectorized_speed.py --benchmark-only`` (reported,
never asserted: a shared CPU is noisy). For the MLP on ring8 at its defaults (batch 100, 128 x 2 hidden
units) and K = 2, 4, 8, each round times ``STEPS`` training steps of all K seeds three ways, interleaved:
``sequential`` (K trainers one after another, what ``--vectorize-seeds 1`` does in one process),
``grouped`` (baddbmm over the stacked weights, the default backend for the MLP) and ``vmap``
(torch.func). Both ratios go to the ``vectorised`` slot of the speed table, on the current
``torch.get_num_threads()``. DCGAN on MNIST-5k has the slot too: its channels fold against sequential.
"""

import pytest
import torch

from ganbench import plugins, runner, vectorized
from ganbench.spec import Budget, RunSpec

STEPS = 10
DCGAN_STEPS = 2
HOST = plugins.load()


def _trainers(loss, k):
    out, rngs = [], []
    for seed in range(k):
        spec = RunSpec(arch="mlp", loss=loss, dataset="ring8", seed=seed, budget=Budget("steps", 300))
        out.append(runner.build_trainer(HOST, spec, runner.resolve_hparams(HOST, spec))[1])
        rngs.append(torch.get_rng_state())
    return out, rngs


@pytest.mark.parametrize("loss,k", [("nonsaturating", 2), ("nonsaturating", 4), ("nonsaturating", 8), ("r1", 8)])
def test_vectorised_vs_sequential(benchmark, speed, loss, k):
    solo, _ = _trainers(loss, k)
    groups = {backend: vectorized.SeedGroup(*_trainers(loss, k), backend=backend) for backend in ("grouped", "vmap")}

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
    images = STEPS * k * solo[0].batch_size * solo[0].n_critic
    benchmark.group = f"vectorised-{loss}-k{k}"
    timings = speed.interleave(benchmark, contenders, images={name: images for name in contenders})
    setting = f"MLP ring8 {loss}, K={k}, batch {solo[0].batch_size}, fp32, {torch.get_num_threads()} thread(s)"
    for backend in groups:
        speed.ratio(benchmark, "vectorised", f"{setting}, {backend}", backend, "sequential", timings)


@pytest.mark.parametrize("k", [2, 4, 8])
def test_dcgan_vectorised_vs_sequential(benchmark, speed, k):
    """DCGAN-28 on MNIST-5k at its widths (ngf = ndf = 64), batch 64: the channels fold (K seeds as one
    network of K times the channels, grouped convolutions) against K solo steps. ``auto`` keeps DCGAN solo
    on the CPU because this ratio was below 1 there (``vectorized.unsupported``); this row says by how much."""
    def trainers():
        out = []
        for seed in range(k):
            spec = RunSpec(arch="dcgan", loss="nonsaturating", dataset="mnist5k", seed=seed, budget=Budget("steps", 300),
                           hparams={"batch_size": 64})
            out.append(runner.build_trainer(HOST, spec, runner.resolve_hparams(HOST, spec))[1])
        return out

    solo = trainers()
    group = vectorized.SeedGroup(trainers(), [torch.get_rng_state()] * k, backend="channels")
    steps = DCGAN_STEPS

    def sequential():
        for _ in range(steps):
            for t in solo:
                t.step()

    def folded():
        for _ in range(steps):
            group.step()

    images = steps * k * solo[0].batch_size
    benchmark.group = f"vectorised-dcgan-k{k}"
    timings = speed.interleave(benchmark, {"sequential": sequential, "channels": folded},
                               images={"sequential": images, "channels": images}, rounds=3)
    setting = f"DCGAN-28 mnist5k nonsaturating, K={k}, batch 64, fp32, {torch.get_num_threads()} thread(s)"
    speed.ratio(benchmark, "vectorised", f"{setting}, channels", "channels", "sequential", timings)
