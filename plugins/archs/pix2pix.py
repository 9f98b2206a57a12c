"""pix2pix (Isola et al., 2017): a U-Net generator given an image and a PatchGAN discriminator of (output, input) pairs."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from ganbench import hookimpl
from ganbench.api import Architecture, DataInfo


def _down(cin: int, cout: int, norm: bool = True) -> nn.Sequential:
    """C_k of the paper's encoder: 4x4 convolution with stride 2, BatchNorm (not on the first), LeakyReLU 0.2."""
    return nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1), *([nn.BatchNorm2d(cout)] if norm else []), nn.LeakyReLU(0.2))


def _up(cin: int, cout: int) -> nn.Sequential:
    """C_k of the decoder: 4x4 transposed convolution with stride 2, BatchNorm, ReLU."""
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.ReLU())


class UNet(nn.Module):
    """Two stride-2 stages down, a 3x3 bottleneck, two up with the mirrored encoder map concatenated
    (the U-Net skips), then a 3x3 convolution to the output channels and tanh."""

    def __init__(self, channels: int, side: int, ngf: int):
        super().__init__()
        self.input_shape = (channels, side, side)   # what it is given: an image of the target's shape
        self.conditional = False
        self.e1 = _down(channels, ngf, norm=False)           # side / 2
        self.e2 = _down(ngf, 2 * ngf)                        # side / 4
        self.bottleneck = nn.Sequential(nn.Conv2d(2 * ngf, 2 * ngf, 3, 1, 1), nn.BatchNorm2d(2 * ngf), nn.ReLU())
        self.d2 = _up(4 * ngf, ngf)                          # side / 2
        self.d1 = _up(2 * ngf, ngf)                          # side
        self.out = nn.Conv2d(ngf, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        e1 = self.e1(x)
        e2 = self.e2(e1)
        h = self.d2(torch.cat([self.bottleneck(e2), e2], dim=1))
        h = self.d1(torch.cat([h, e1], dim=1))
        return torch.tanh(self.out(h))


class PatchGAN(nn.Module):
    """D(x, input): the output (or target) and the generator's input stacked as channels, two C_k
    stages (no BatchNorm on the first), a 3x3 convolution to one logit per patch, averaged over the
    patches (section 3.2.2: "averaging all responses")."""

    def __init__(self, channels: int, ndf: int):
        super().__init__()
        self.net = nn.Sequential(_down(2 * channels, ndf, norm=False), _down(ndf, 2 * ndf),
                                 nn.Conv2d(2 * ndf, 1, 3, 1, 1))

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, condition], dim=1)).mean(dim=(1, 2, 3))


class Pix2Pix(Architecture):
    """pix2pix (Isola et al., 2017): U-Net G given an image, PatchGAN D on (output, input) pairs.

    Paper: CVPR 2017, section 3.2 and appendix 6.1. Kept: the U-Net (encoder C_k = 4x4 convolution,
    stride 2, BatchNorm except on the first, LeakyReLU 0.2; decoder C_k = 4x4 transposed convolution,
    BatchNorm, ReLU; each decoder stage concatenates the mirrored encoder map; tanh out), the PatchGAN
    (the input and the image judged stacked as channels, C64-C128 without BatchNorm on the first, a
    convolution to one logit per patch, the responses averaged), Adam with lr 2e-4 and betas
    (0.5, 0.999), batch 1-10 in the paper. The L1 term (lambda 100) is the ``paired_translation``
    task's, the adversarial game the loss plugin's (the paper's: ``--loss nonsaturating``).

    Departures, for 28 and 32 px digits on a CPU:
    * Two down stages and a 3x3 bottleneck instead of eight (256 px); ``p2p_ngf`` = ``p2p_ndf`` = 32
      channels instead of 64. The patch a logit sees is 18 px of a 28 px image (the paper's 70 of 256).
    * No dropout in the decoder: the paper's dropout is G's only noise (at train and test time), and it
      would draw from the global RNG during training, which ganbench keeps for weight initialisation.
      G is therefore deterministic, as the paper found its dropout noise mostly to be.
    * Batch 64, PyTorch's default initialisation (the paper: N(0, 0.02)).
    """

    name = "pix2pix"
    paper = ("Isola, P., Zhu, J.-Y., Zhou, T. & Efros, A. A. (2017). Image-to-Image Translation with "
             "Conditional Adversarial Networks. CVPR 2017.")
    tasks = ("paired_translation",)
    generator_input = "image"
    discriminator_sees_input = True
    image_sides = (28, 32, 64)
    defaults = {"batch_size": 64, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "n_critic": 1,
                "p2p_ngf": 32, "p2p_ndf": 32}
    hparam_docs = {"p2p_ngf": "channels of the U-Net's first encoder stage (doubled in the second)",
                   "p2p_ndf": "channels of the PatchGAN's first stage (doubled in the second)"}
    hparam_limits = {"p2p_ngf": {"low": 1}, "p2p_ndf": {"low": 1}}

    def build(self, data: DataInfo, hparams: Mapping[str, Any]) -> tuple[nn.Module, nn.Module]:
        h = hparams  # the run's resolved hyperparameters: the core has applied the defaults
        channels, side, _ = data.shape
        return UNet(channels, side, int(h["p2p_ngf"])), PatchGAN(channels, int(h["p2p_ndf"]))


@hookimpl
def ganbench_register_architectures(registry):
    registry.add(Pix2Pix)
