"""BiGAN (Donahue et al., 2017) and ALI (Dumoulin et al., 2017): a GAN with an encoder, judged on (x, z) pairs.

One algorithm, two registered names: ALI is BiGAN with a stochastic (Gaussian, reparameterised)
encoder and its own paper's optimiser settings, so both live in this file (``encoder`` hparam:
``--arch bigan --hparam encoder=gaussian`` trains ALI's model with BiGAN's optimiser settings).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from torch import nn

from ganbench import hookimpl
from ganbench.api import Architecture, DataInfo

# Image side -> side of the feature map after two stride-2 layers (28 -> 7, 32 -> 8).
BASE = {28: 7, 32: 8}
ENCODERS = ("deterministic", "gaussian")


def _init_conv(module: nn.Module) -> None:
    # DCGAN's N(0, 0.02) for (transposed) convolutions, BatchNorm scales around 1 (BiGAN builds on DCGAN).
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


# ---------------------------------------------------------------------------------------------------
# The networks. G carries E (``encoder``), so one state_dict, one optimiser and one EMA copy hold both.

class Generator(nn.Module):
    """``G(z)`` plus the encoder: ``encode(x, generator)`` is E(x) (a sample of q(z | x) for the
    Gaussian encoder when ``generator`` is given, its mean when ``None``)."""

    def __init__(self, decoder: nn.Module, encoder: nn.Module, z_dim: int, shape: tuple[int, ...], gaussian: bool):
        super().__init__()
        self.z_dim = z_dim
        self.conditional = False
        self.shape = tuple(shape)
        self.gaussian = gaussian
        self.decoder = decoder
        self.encoder = encoder  # outputs z_dim values, or 2 x z_dim (mean, log sigma) when Gaussian

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(z).view(z.shape[0], *self.shape)

    def sample_latent(self, n: int, generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
        """z ~ N(0, I) of this generator's ``z_dim`` (on points it is ``points_z_dim``), from ``generator``."""
        return torch.randn(n, self.z_dim, generator=generator, device=generator.device).to(device)

    def encode(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        h = self.encoder(x)
        if not self.gaussian:
            return h
        mean, log_sigma = h.chunk(2, dim=1)
        if generator is None:
            return mean
        # ALI's reparameterisation: z = mu(x) + sigma(x) * eps, sigma = exp(log sigma), eps ~ N(0, I).
        eps = torch.randn(mean.shape, generator=generator, device=generator.device).to(mean.device, mean.dtype)
        return mean + log_sigma.exp() * eps


class PairDiscriminator(nn.Module):
    """``D(x, z)``: an x branch and a z branch whose features are concatenated and read by a joint
    head (ALI's D(x), D(z), D(x, z)); on points the x branch is the flattening alone."""

    def __init__(self, x_branch: nn.Module, x_features: int, z_dim: int, hidden: int, depth: int):
        super().__init__()
        self.z_dim = z_dim
        self.x_branch = x_branch
        layers: list[nn.Module] = []
        width = x_features + z_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        self.joint = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        if z is None or z.dim() != 2 or z.shape != (x.shape[0], self.z_dim):
            got = None if z is None else tuple(z.shape)
            raise TypeError(f"this discriminator judges (x, z) pairs: D(x, z) with z of shape "
                            f"[{x.shape[0]}, {self.z_dim}], got {got}")
        h = torch.cat([self.x_branch(x), z.to(x.dtype)], dim=1)
        return self.head(self.joint(h)).squeeze(1)


def _mlp(sizes: list[int], activation) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), activation()]
    return layers + [nn.Linear(sizes[-2], sizes[-1])]


def point_networks(shape: tuple[int, ...], z_dim: int, hidden: int, depth: int, gaussian: bool):
    """Fully connected G, E and D for points (the mlp architecture's widths and activations)."""
    dims = math.prod(shape)
    decoder = nn.Sequential(*_mlp([z_dim] + [hidden] * depth + [dims], nn.ReLU))
    encoder = nn.Sequential(nn.Flatten(), *_mlp([dims] + [hidden] * depth + [z_dim * (2 if gaussian else 1)], nn.ReLU))
    D = PairDiscriminator(nn.Flatten(), dims, z_dim, hidden, depth)
    return Generator(decoder, encoder, z_dim, shape, gaussian), D


def image_networks(shape: tuple[int, ...], z_dim: int, ngf: int, nef: int, ndf: int, d_hidden: int, gaussian: bool):
    """Small convolutional G, E and D for 28 or 32 px images (two stride-2 layers each)."""
    channels, side, _ = shape
    base = BASE[side]
    decoder = nn.Sequential(
        nn.Linear(z_dim, 2 * ngf * base * base), nn.BatchNorm1d(2 * ngf * base * base), nn.ReLU(True),
        nn.Unflatten(1, (2 * ngf, base, base)),
        nn.ConvTranspose2d(2 * ngf, ngf, 4, 2, 1), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, channels, 4, 2, 1), nn.Tanh())
    encoder = nn.Sequential(
        nn.Conv2d(channels, nef, 4, 2, 1), nn.LeakyReLU(0.2, True),
        nn.Conv2d(nef, 2 * nef, 4, 2, 1), nn.BatchNorm2d(2 * nef), nn.LeakyReLU(0.2, True),
        nn.Flatten(), nn.Linear(2 * nef * base * base, z_dim * (2 if gaussian else 1)))
    x_branch = nn.Sequential(
        nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf, 2 * ndf, 4, 2, 1), nn.LeakyReLU(0.2, True),
        nn.Flatten(), nn.Linear(2 * ndf * base * base, d_hidden), nn.LeakyReLU(0.2, True))
    G = Generator(decoder, encoder, z_dim, shape, gaussian)
    D = PairDiscriminator(x_branch, d_hidden, z_dim, d_hidden, 1)
    G.apply(_init_conv)
    D.apply(_init_conv)
    return G, D


# ---------------------------------------------------------------------------------------------------

class BiGAN(Architecture):
    """Bidirectional GAN (Donahue, Krähenbühl & Darrell, 2017, "Adversarial Feature Learning"): G, encoder E, D on (x, z).

    Paper (ICLR 2017) and its code (jeffdonahue/bigan ``train_gan.py``, ``train_mnist.sh``): D
    tells (x, E(x)) from (G(z), z); G and E are trained together on the "inverted" objective (D's loss
    with real and fake swapped, section 3.4; :mod:`ganbench.training` says how any loss plugin gives
    it); Adam, lr 2e-4, beta1 0.5, batch 128; a 50-dimensional latent on MNIST. Kept here: all of
    that, a deterministic encoder, one D step per G/E step. Departures: z ~ N(0, I) instead of the
    paper's U[-1, 1]^50 (E ends in a linear layer, as ALI's does, and ALI shares the prior); no L2
    weight decay (the code's 2.5e-5) and no learning-rate decay; D and G/E alternate, each on its own
    batch, instead of the code's simultaneous update of both from one batch (``k == 1``). Networks:
    on 2D points, the mlp architecture's fully connected G, E and a D on concat(x, z), ``hidden`` x
    ``depth`` (128 x 2), with a ``points_z_dim`` = 2 latent (the data's dimension: a deterministic E
    can only invert G when z is no larger than the data, and ALI's mixture code and PacGAN's 2D
    generators use z in R^2); on 28 or 32 px images, small convolutional networks (the paper's MNIST
    nets are multilayer perceptrons): G = FC - BN - 2 x (4-2-1 transposed conv), ``ngf``; E = 2 x
    (4-2-1 conv, LeakyReLU 0.2, BN on the second) - FC, ``nef``; D = the same conv stack without BN
    (``ndf``) - FC ``d_hidden``, concatenated with z, FC ``d_hidden``, then the score. D has no
    BatchNorm and no dropout (a pair's score depends on that pair alone, and training draws no noise
    outside the run's streams). DCGAN's N(0, 0.02) initialisation for the convolutions; PyTorch's
    defaults elsewhere. Images are tanh outputs in [-1, 1] (the code's MNIST nets end in a sigmoid
    on [0, 1]).
    """

    name = "bigan"
    paper = ("Donahue, J., Krähenbühl, P. & Darrell, T. (2017). Adversarial Feature Learning. ICLR 2017.")
    conditional = False
    samples_latent = True   # N(0, I) of G.z_dim: points_z_dim on points, z_dim on images
    encoder = True          # E inside G (G.encode), D(x, z) on pairs
    image_sides = tuple(BASE)
    defaults = {
        "batch_size": 128, "z_dim": 50, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "n_critic": 1,
        "encoder": "deterministic", "points_z_dim": 2, "hidden": 128, "depth": 2,
        "ngf": 64, "nef": 64, "ndf": 64, "d_hidden": 512,
    }
    hparam_docs = {
        "z_dim": "size of the latent z on images (points use points_z_dim)",
        "encoder": "deterministic: E(x) is z (BiGAN); gaussian: z = mu(x) + sigma(x) * eps, reparameterised (ALI)",
        "points_z_dim": "size of the latent z on 2D points",
        "hidden": "units per hidden layer of G, E and D on points",
        "depth": "hidden layers of G, E and D on points",
        "ngf": "generator width on images: channels of its last transposed convolution (doubled before it)",
        "nef": "encoder width on images: channels of its first convolution (doubled after it)",
        "ndf": "width of D's image branch: channels of its first convolution (doubled after it)",
        "d_hidden": "units of D's fully connected layers on images (image features, then the joint layer)",
    }
    hparam_limits = {
        "encoder": {"choices": ENCODERS},
        "points_z_dim": {"low": 1}, "hidden": {"low": 1}, "depth": {"low": 1},
        "ngf": {"low": 1}, "nef": {"low": 1}, "ndf": {"low": 1}, "d_hidden": {"low": 1},
    }

    @classmethod
    def supports(cls, data: DataInfo) -> str | None:
        if data.kind == "points":
            return None if len(data.shape) == 1 else f"{cls.name} models points of shape (D,), not {data.shape}"
        return super().supports(data)

    def build(self, data: DataInfo, hparams: Mapping[str, Any]) -> tuple[nn.Module, nn.Module]:
        h = hparams  # the run's resolved hyperparameters: the core has applied the defaults
        gaussian = h["encoder"] == "gaussian"
        if data.kind == "points":
            return point_networks(data.shape, int(h["points_z_dim"]), int(h["hidden"]), int(h["depth"]), gaussian)
        return image_networks(data.shape, int(h["z_dim"]), int(h["ngf"]), int(h["nef"]), int(h["ndf"]),
                              int(h["d_hidden"]), gaussian)


class ALI(BiGAN):
    """Adversarially learned inference (Dumoulin et al., 2017): BiGAN with a Gaussian, reparameterised encoder.

    Paper (ICLR 2017) and its code (IshmaelBelghazi/ALI ``ali/bricks.py``): the same game as BiGAN,
    with E(x) a sample of q(z | x) = N(mu(x), sigma(x)^2), sigma = exp of E's second half of outputs,
    drawn by reparameterisation (z = mu + sigma * eps) so that G/E's gradient flows through it; the
    generator loss is softplus(D(x, E(x))) + softplus(-D(G(z), z)), D's loss with the pairs swapped;
    z ~ N(0, I); appendix A's optimiser: Adam, lr 1e-4, beta1 0.5, beta2 10^-3, batch 100, read as
    beta2 = 0.999 here: the paper's code is written in Blocks, whose Adam of the time took the decay
    rates as 1 - beta (its defaults beta1 = 0.1, beta2 = 0.001 are Kingma & Ba's 0.9 and 0.999), and
    PyTorch's Adam with beta2 = 1e-3 divides by the last gradient alone: on MNIST-5k it diverged by
    step 40 (arch-health, 2026-12-02; beta1 = 0.5 reads the same either way); a 64-dim
    latent on CIFAR-10 (here ``z_dim`` on images) and a 2-dim one for the 2D mixture
    (``experiments/ali_mixture.py``, ``points_z_dim``). Departures: this file's networks (the BiGAN
    docstring: mlp-sized on points where ALI's mixture code has 1000-unit BatchNorm layers and a
    maxout D with dropout, small convolutional ones on images); no dropout in D; alternating
    updates; the mixture code's own lr 1e-3 with Adam's default beta2 is not the default here (set
    ``lr_g``, ``lr_d``, ``beta2`` to use it). Metrics reconstruct from the posterior mean (ALI's
    ``reconstruct(in_expectation=True)``), not from a sample of it.
    """

    name = "ali"
    paper = ("Dumoulin, V., Belghazi, I., Poole, B., Mastropietro, O., Lamb, A., Arjovsky, M. & Courville, A. "
             "(2017). Adversarially Learned Inference. ICLR 2017.")
    defaults = {
        **BiGAN.defaults,
        "batch_size": 100, "z_dim": 64, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.5, "beta2": 0.999,
        "encoder": "gaussian",
    }


@hookimpl
def ganbench_register_architectures(registry):
    registry.add(BiGAN)
    registry.add(ALI)
