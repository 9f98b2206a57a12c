"""K seeds of one configuration: K solo ``Trainer.step`` calls against one batched step (ganbench.vectorized).

Run with ``make benchmark`` or ``pytest benchmarks/test_vectorized_speed.py --benchmark-only`` (reported,
never asserted: a shared CPU is noisy). For the MLP on ring8 at its defaults (batch 100, 128 x 2 hidden
units) and K = 2, 4, 8, each round times ``STEPS`` training steps of all K seeds three ways, interleaved:
``sequential`` (K trainers one after another, what ``--vectorize-seeds 1`` does in one process),
``grouped`` (baddbmm over the stacked weights, the default backend for the MLP) and ``vmap``
(torch.func). Both ratios go to the ``vectorised`` slot of the speed table, on the current
``torch.get_num_threads()``. DCGAN on MNIST-5k has the slot too, with the reason it trains solo.
"""

import pytest
import torch

from ganbench import plugins, runner, vectorized
from ganbench.spec import Budget, RunSpec

STEPS = 10
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


def test_dcgan_vectorised_vs_sequential(benchmark, speed):
    spec = RunSpec(arch="dcgan", loss="nonsaturating", dataset="mnist5k", seed=0, budget=Budget("steps", 300))
    reason = vectorized.unsupported(HOST, spec)
    if reason is None:  # pragma: no cover - the day DCGAN declares a vectorised form, time it here
        pytest.fail("dcgan now vectorises: add it to test_vectorised_vs_sequential")
    speed.skip("vectorised", "DCGAN-28 mnist5k nonsaturating, K=2/4/8", f"trains solo: {reason}")
