"""DCGAN (Radford et al., 2016): the all-convolutional GAN, at 28, 32 and 64 pixels."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from ganbench import hookimpl
from ganbench.api import Architecture, DataInfo

# Image side -> (side of the first feature map, number of stride-2 layers). 64 px is the paper's layout;
# 32 px drops its first upsampling; 28 px (MNIST) starts from 7x7 so the 4-2-1 stack lands on 28.
GEOMETRY = {28: (7, 2), 32: (4, 3), 64: (4, 4)}


def _init_weights(module: nn.Module) -> None:
    # Paper, section 4: "All weights were initialized from a zero-centered Normal distribution with
    # standard deviation 0.02"; BatchNorm scales around 1 as in the reference implementation.
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    def __init__(self, z_dim: int, channels: int, side: int, ngf: int):
        super().__init__()
        self.z_dim = z_dim
        self.conditional = False
        base, n_up = GEOMETRY[side]
        width = ngf * 2 ** (n_up - 1)
        # The first transposed conv maps the 1x1 code to base x base (kernel = base, no padding).
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, width, base, 1, 0, bias=False),
                                   nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(n_up - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        # The declared attention slot (api.Architecture.attention_slots): empty, i.e. the identity,
        # unless a technique fills it; it sees the half-side map that the last transposed conv reads.
        self.attention_after, self.attention_channels = len(layers) - 1, width
        self.attention_slot = nn.Sequential()
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = z.view(z.shape[0], -1, 1, 1)
        for i, layer in enumerate(self.net):
            h = layer(h)
            if i == self.attention_after:
                h = self.attention_slot(h)
        return h


class Discriminator(nn.Module):
    def __init__(self, channels: int, side: int, ndf: int):
        super().__init__()
        base, n_down = GEOMETRY[side]
        # No BatchNorm on the first layer: the paper found it destabilised training on the input.
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        # The declared attention slot, on the half-side map of the first layer (empty: the identity).
        self.attention_after, self.attention_channels = len(layers) - 1, ndf
        self.attention_slot = nn.Sequential()
        width = ndf
        for _ in range(n_down - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2, True)]
            width *= 2
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, 1, base, 1, 0, bias=False)

    def _body(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for i, layer in enumerate(self.body):
            h = layer(h)
            if i == self.attention_after:
                h = self.attention_slot(h)
        return h

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self._body(x).flatten(1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self._body(x)).view(-1)


class DCGAN(Architecture):
    """Deep convolutional GAN (Radford, Metz & Chintala, 2016, "Unsupervised Representation Learning with DCGANs").

    Paper: "Unsupervised Representation Learning with Deep Convolutional Generative Adversarial
    Networks", ICLR 2016.

    The 64 px layout is the paper's (and the PyTorch reference's): nz 100, ngf = ndf = 64, a stack of
    4-2-1 transposed convolutions, BatchNorm in G and in D except D's first layer, ReLU in G,
    LeakyReLU(0.2) in D, tanh output, N(0, 0.02) init, Adam lr 2e-4 beta1 0.5, batch 128. At 32 px
    the first upsampling is dropped; at 28 px the stack starts from 7x7. ``ngf``/``ndf`` are the
    widths of the last G layer and first D layer (they double per resolution halving).
    """

    name = "dcgan"
    paper = ("Radford, A., Metz, L. & Chintala, S. (2016). Unsupervised Representation Learning with "
             "Deep Convolutional Generative Adversarial Networks. ICLR 2016.")
    conditional = False
    discriminator_features = True
    # SAGAN's self-attention block may go on G's and D's half-side feature maps (self_attention technique).
    attention_slots = ("generator", "discriminator")
    image_sides = tuple(GEOMETRY)
    # Convolutions, BatchNorm and activations only: K seeds train as one network of K times the
    # channels (--vectorize-seeds K), each with its own BatchNorm statistics.
    seed_fold = "channels"
    defaults = {
        "batch_size": 128, "z_dim": 100, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999,
        "n_critic": 1, "ngf": 64, "ndf": 64,
    }
    hparam_docs = {
        "ngf": "generator width: feature maps of its last transposed convolution, doubled per layer towards z",
        "ndf": "discriminator width: feature maps of its first convolution, doubled per layer",
    }

    def build(self, data: DataInfo, hparams: Mapping[str, Any]) -> tuple[nn.Module, nn.Module]:
        h = hparams  # the run's resolved hyperparameters: the core has applied the defaults
        channels, side, _ = data.shape
        G = Generator(int(h["z_dim"]), channels, side, int(h["ngf"]))
        D = Discriminator(channels, side, int(h["ndf"]))
        G.apply(_init_weights)
        D.apply(_init_weights)
        return G, D


@hookimpl
def ganbench_register_architectures(registry):
    registry.add(DCGAN)
