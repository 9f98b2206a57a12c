"""Reconstruction error of an encoder architecture (BiGAN, ALI): mean ||x - G(E(x))||^2 over real samples.

Protocol [ours; the quantity is the one ALI's and BiGAN's reconstruction figures show, as a number]:
every sample x of the reference split (or the first ``num_samples`` of it) is encoded,
``E(x)`` (a Gaussian encoder's posterior mean, as ALI's ``reconstruct(in_expectation=True)``), and
decoded, ``G(E(x))`` as every metric sees generator output (images clipped and 8-bit quantised,
points unchanged: :func:`ganbench.evaluation.to_metric_space`). The value is the squared Euclidean
distance summed over a sample's coordinates (784 pixels in [-1, 1] for MNIST, 2 for points), averaged
over samples; lower is better. A perfect inverse gives 0 (up to the 8-bit quantisation of images).
Values depend on the data's scale: compare runs on one dataset only.
"""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.api import DataInfo, Metric, MetricValue


def reconstruction_errors(x, reconstructed):
    """``||x_i - r_i||^2`` per sample (float64), for ``x`` and ``reconstructed`` of one shape ``[n, ...]``."""
    return (x.double() - reconstructed.double()).flatten(1).pow(2).sum(1)


class Reconstruction(Metric):
    """Reconstruction error ||x - G(E(x))||^2 per real sample, averaged (architectures with an encoder)."""

    name = "reconstruction"
    paper = ("Donahue et al. 2017 (BiGAN), Figure 3; Dumoulin et al. 2017 (ALI), section 4 reconstructions; "
             "the number itself is ganbench's")
    needs_encoder = True

    def __init__(self, num_samples: int | None = None):
        self.num_samples = num_samples  # None: the whole reference split

    @classmethod
    def supports(cls, data: DataInfo, dataset_name: str) -> str | None:
        return None

    def compute(self, ctx, split: str) -> list[MetricValue]:
        x, _ = ctx.reference(split)
        if self.num_samples is not None:
            x = x[:int(self.num_samples)]
        errors = reconstruction_errors(x, ctx.decode(ctx.encode(x)))
        n = int(len(x))
        return [MetricValue("reconstruction_error", float(errors.mean()), False, n, split,
                            extra={"std": float(errors.std()) if n > 1 else 0.0, "per": "sample",
                                   "dims": int(x[0].numel())})]


@hookimpl
def ganbench_register_metrics(registry):
    registry.add(Reconstruction)
