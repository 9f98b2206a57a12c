"""Technique plugin: PacGAN packing."""

from __future__ import annotations

import dataclasses

from torch import nn

from ganbench import hookimpl
from ganbench.api import DataInfo, Technique
from ganbench.wrappers import DiscriminatorWrapper


class PacGAN(Technique):
    """PacGAN: the discriminator judges packs of m samples at once, which penalises mode collapse.

    Lin, Khetan, Fanti and Oh (2018), "PacGAN: The Power of Two Samples in Generative Adversarial
    Networks", NeurIPS. As in the paper, consecutive samples of a batch are packed ``pac_size`` at a
    time (2 by default, PacGAN2), concatenated along channels (images) or coordinates (points), and
    the discriminator is the architecture's own, built for packs: only its input layer is m times
    wider (:meth:`discriminator_data`), everything after it is unchanged. D gives one score per pack;
    a pack of collapsed fakes looks unlike a pack of independent reals.

    Scores. The packed D returns ``[B / m]``, one score per pack, not ``[B]``. Mean-reduced losses
    then average over packs exactly as in the paper, and gradient penalties (WGAN-GP, R1, DRAGAN)
    see each sample's gradient once; repeating each score m times would keep the shape ``[B]`` but
    multiply penalty gradients by m. Conditional labels: each pack takes its first sample's label.
    The batch size must be a multiple of ``pac_size``.
    """

    name = "pacgan"
    paper = ("Lin, Khetan, Fanti, Oh (2018). PacGAN: The Power of Two Samples in Generative "
             "Adversarial Networks. NeurIPS.")
    defaults = {"pac_size": 2}
    hparam_docs = {
        "pac_size": "samples per pack the discriminator judges at once (2: PacGAN2)",
    }
    hparam_limits = {
        "pac_size": {"low": 1},
    }

    @classmethod
    def supports(cls, architecture, loss, data: DataInfo) -> str | None:
        if architecture.auxiliary_head:
            return f"{architecture.name}'s discriminator has a head that reads single samples, not packs"
        reason = architecture.supports(packed(data, int(cls.defaults["pac_size"])))
        return f"the architecture cannot take packs of {cls.defaults['pac_size']}: {reason}" if reason else None

    def discriminator_data(self, data: DataInfo) -> DataInfo:
        return packed(data, int(self.hparams["pac_size"]))

    def wrap_discriminator(self, discriminator, data):
        return PackedDiscriminator(discriminator, int(self.hparams["pac_size"]))


def packed(data: DataInfo, pac_size: int) -> DataInfo:
    """``data`` as the discriminator sees it in packs of ``pac_size``: ``pac_size`` times the channels."""
    if pac_size < 1:
        raise ValueError(f"pac_size must be >= 1, got {pac_size}")
    return dataclasses.replace(data, shape=(pac_size * data.shape[0], *data.shape[1:]))


class PackedDiscriminator(DiscriminatorWrapper):
    """Packs ``m`` consecutive samples into one input of the inner D (built for packs); scores ``[B / m]``."""

    def __init__(self, inner: nn.Module, pac_size: int):
        if pac_size < 1:
            raise ValueError(f"pac_size must be >= 1, got {pac_size}")
        super().__init__(inner)
        self.pac_size = pac_size

    def pack(self, x, y=None):
        B, m = x.shape[0], self.pac_size
        if B % m:
            raise ValueError(f"pacgan: batch of {B} is not a multiple of pac_size={m}")
        return x.reshape(B // m, m * x.shape[1], *x.shape[2:]), None if y is None else y[::m]

    def forward(self, x, y=None):
        return self.inner(*self.pack(x, y)).reshape(-1)

    def __getattr__(self, name):
        attr = super().__getattr__(name)
        if name == "features":  # the inner discriminator's features, of the packed input
            return lambda x, y=None: attr(*self.pack(x, y))
        return attr


@hookimpl
def ganbench_register_techniques(registry):
    registry.add(PacGAN)
