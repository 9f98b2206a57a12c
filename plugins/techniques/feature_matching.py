"""Technique plugin: feature matching."""

from __future__ import annotations

import torch

from ganbench import hookimpl
from ganbench.api import Technique


class FeatureMatching(Technique):
    """Feature matching: the generator matches the mean discriminator features of real data.

    Salimans, Goodfellow, Zaremba, Cheung, Radford and Chen (2016), "Improved Techniques for Training
    GANs", section 3.1. The generator's adversarial loss is replaced by
    ``|| mean f(real) - mean f(fake) ||^2`` (squared L2 norm, summed over features), where ``f`` is an
    intermediate layer of the discriminator. The discriminator keeps the loss plugin's objective.

    Architectures that declare ``discriminator_features`` expose ``f`` as ``D.features(x, y) -> [B, F]``
    (see :mod:`ganbench.api`); the others are skipped when the matrix is expanded.

    Both batches pass through every technique's :meth:`discriminator_input` first, as in the trainer's
    scoring, so that ``f`` is measured on what the discriminator is trained on (DiffAugment, instance
    noise). The real batch is a fresh one from ``ctx.next_real_batch()`` (unless the loss
    already drew one for this step), and its features carry no gradient. The features come from the
    trainer's D, not from a look-ahead discriminator of the unrolled technique.
    """

    name = "feature_matching"
    paper = ("Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen (2016). "
             "Improved Techniques for Training GANs. NeurIPS.")
    defaults = {}

    @classmethod
    def supports(cls, architecture, loss, data):
        if not architecture.discriminator_features:
            return f"{architecture.name} declares no discriminator features (discriminator_features)"
        return None

    def generator_loss(self, ctx, fake, labels):
        D = ctx.discriminator
        real, real_labels = (ctx.real, ctx.labels) if ctx.real is not None else ctx.next_real_batch()
        with torch.no_grad():
            real_features = D.features(ctx.as_discriminator_sees(real), real_labels).float()
        fake_features = D.features(ctx.as_discriminator_sees(fake), labels).float()
        diff = real_features.flatten(1).mean(0) - fake_features.flatten(1).mean(0)
        return diff.pow(2).sum()


@hookimpl
def ganbench_register_techniques(registry):
    registry.add(FeatureMatching)
