"""Modes covered (of 1000) and KL to uniform on Stacked MNIST.

Protocol: VEEGAN (Srivastava et al. 2017, Table 2) and PacGAN (Lin et al. 2018, Tables 2-3),
metrics-protocols.md §3.3. N = 26,000 generated samples; each of the 3 channels is classified by an
MNIST classifier (argmax) and the mode is the triple, code d0*100 + d1*10 + d2 (the dataset's label
convention); ``modes`` = distinct codes with at least one sample; ``reverse_kl`` = KL(p_hat || U_1000)
= log 1000 - H(p_hat), at most log 1000 = 6.91.

Classifier: ganbench's LeNet trained on mnist5k (see :mod:`ganbench.evaluators`; about 97 % per
digit), not the Keras ``mnist_cnn`` at 99 % that PacGAN used: per-digit errors move a few samples to
neighbouring modes, which slightly inflates ``modes`` and lowers KL for collapsed generators and is
negligible for good ones (real triples give ~1000 modes, KL ~0.02). The digit dataset is
``ctx.dataset.digit_dataset()`` when the Stacked MNIST dataset provides it, else the installed
``mnist5k`` plugin.
"""

from __future__ import annotations

import math

import torch

from ganbench import hookimpl
from ganbench.api import DataInfo, Dataset, Metric, MetricValue

NUM_SAMPLES = 26_000
NUM_MODES = 1000


def kl_to_uniform(counts: torch.Tensor) -> float:
    p = counts.double() / counts.sum()
    p = p[p > 0]
    return float(math.log(len(counts)) + (p * p.log()).sum())


class StackedMnistModes(Metric):
    """Modes covered out of 1000 and KL(p_hat || U_1000) on Stacked MNIST (VEEGAN/PacGAN protocol)."""

    name = "stacked_mnist_modes"
    paper = "Srivastava et al. 2017 (VEEGAN), Table 2; Lin et al. 2018 (PacGAN), Tables 2-3"
    ranks = {"modes": 3}
    mode_collapse = ("modes", "reverse_kl")
    counts_modes = ("modes",)

    def __init__(self, num_samples: int = NUM_SAMPLES, digit_dataset: Dataset | None = None):
        self.num_samples = num_samples
        self.digit_dataset = digit_dataset

    @classmethod
    def supports(cls, data: DataInfo, dataset_name: str) -> str | None:
        if not data.is_image or tuple(data.shape) != (3, 28, 28) or data.num_modes != NUM_MODES:
            return f"needs Stacked MNIST (3x28x28, 1000 modes); {dataset_name} is not"
        return None

    def _digits(self, ctx) -> Dataset:
        if self.digit_dataset is not None:
            return self.digit_dataset
        provider = getattr(ctx.dataset, "digit_dataset", None)
        if callable(provider):
            return provider()
        from ganbench.evaluators import find_dataset
        return find_dataset("mnist5k")

    def compute(self, ctx, split: str) -> list[MetricValue]:
        from ganbench.evaluators import get_evaluator

        evaluator = get_evaluator(self._digits(ctx))
        digits = evaluator.predict_channels(ctx.sample(self.num_samples))
        codes = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
        counts = torch.bincount(codes, minlength=NUM_MODES)
        n, extra = self.num_samples, {"num_modes": NUM_MODES, "evaluator_test_accuracy": round(evaluator.accuracy, 4)}
        return [
            MetricValue("modes", float((counts > 0).sum()), True, n, "", evaluator.name, dict(extra)),
            MetricValue("reverse_kl", kl_to_uniform(counts), False, n, "", evaluator.name, dict(extra)),
        ]


@hookimpl
def ganbench_register_metrics(registry):
    registry.add(StackedMnistModes)
