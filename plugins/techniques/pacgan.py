"""Technique plugin: PacGAN packing."""

from __future__ import annotations

from torch import nn

from ganbench import hookimpl
from ganbench.api import Technique
from ganbench.wrappers import DiscriminatorWrapper


class PacGAN(Technique):
    """PacGAN: the discriminator judges packs of m samples at once, which penalises mode collapse.

    Lin, Khetan, Fanti and Oh (2018), "PacGAN: The Power of Two Samples in Generative Adversarial
    Networks", NeurIPS. Consecutive samples of a batch are packed ``pac_size`` at a time (2 by
    default, the paper's PacGAN2), concatenated along channels (images) or features (points), and D
    gives one score per pack. A pack of collapsed fakes looks unlike a pack of independent reals.

    Approximation. The paper widens D's first layer to take ``m*C`` channels. ``wrap_discriminator``
    receives an already built D for ``C`` channels, and no architecture-independent way exists to
    widen its input layer (ResNet discriminators feed the input to two layers, some layers are
    already spectrally normalised). So a learned per-position front end maps each pack to a
    ``C``-channel input for the original D: ``m*C -> hidden -> C`` with a LeakyReLU, as 1x1
    convolutions plus a final tanh for images (D was built for [-1, 1]), as linear layers for points.
    D with this front end is still a function of the whole pack, which is what PacGAN's analysis
    needs, but the pack is mixed per position before D's first layer sees it. A trainer hook that
    builds D for the packed shape would remove the approximation.

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

    def wrap_discriminator(self, discriminator, data):
        return PackedDiscriminator(discriminator, int(self.hparams["pac_size"]), data.shape, data.is_image)


class PackedDiscriminator(DiscriminatorWrapper):
    """Packs ``m`` samples, maps them to one input of D through ``front``, scores ``[B / m]``."""

    def __init__(self, inner: nn.Module, pac_size: int, sample_shape, is_image: bool):
        if pac_size < 1:
            raise ValueError(f"pac_size must be >= 1, got {pac_size}")
        super().__init__(inner)
        self.pac_size = pac_size
        channels = int(sample_shape[0])
        packed, hidden = pac_size * channels, max(16, 4 * pac_size * channels)
        if is_image:
            # tanh: D was built for images in [-1, 1].
            self.front = nn.Sequential(nn.Conv2d(packed, hidden, 1), nn.LeakyReLU(0.2),
                                       nn.Conv2d(hidden, channels, 1), nn.Tanh())
        else:
            # Points live in the protocol's own coordinates (the grid spans +-4): no squashing.
            self.front = nn.Sequential(nn.Linear(packed, hidden), nn.LeakyReLU(0.2),
                                       nn.Linear(hidden, channels))

    def pack(self, x, y=None):
        B, m = x.shape[0], self.pac_size
        if B % m:
            raise ValueError(f"pacgan: batch of {B} is not a multiple of pac_size={m}")
        packed = x.reshape(B // m, m * x.shape[1], *x.shape[2:])
        return self.front(packed), None if y is None else y[::m]

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
