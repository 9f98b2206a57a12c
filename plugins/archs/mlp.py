"""The fully connected GAN of Goodfellow et al. (2014), for 2D points and small flattened images."""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from torch import nn

from ganbench import hookimpl
from ganbench.api import Architecture, DataInfo

MAX_IMAGE_DIMS = 3072  # 32x32x3: beyond this a dense layer dwarfs what a convolutional net needs


class Generator(nn.Module):
    def __init__(self, z_dim: int, shape: tuple[int, ...], hidden: int, depth: int, bounded: bool):
        super().__init__()
        self.z_dim = z_dim
        self.conditional = False
        self.shape = tuple(shape)
        layers: list[nn.Module] = []
        width = z_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        # Images live in [-1, 1]; points in the protocol's own coordinates (the grid spans ±4).
        layers += [nn.Linear(width, math.prod(shape))] + ([nn.Tanh()] if bounded else [])
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.shape)


class Discriminator(nn.Module):
    def __init__(self, shape: tuple[int, ...], hidden: int, depth: int):
        super().__init__()
        layers: list[nn.Module] = []
        width = math.prod(shape)
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(x.flatten(1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)


class MLP(Architecture):
    """Fully connected GAN (Goodfellow et al., 2014, "Generative Adversarial Nets") for points and small images.

    Paper: rectifier/sigmoid generator, maxout discriminator with dropout, SGD with momentum, k = 1
    discriminator step per generator step; the authors' MNIST code uses minibatches of 100 and two
    1200-unit generator layers. Here the discriminator uses LeakyReLU(0.2) and no dropout (D stays a
    deterministic function of its input, which feature matching and gradient penalties assume), and
    the optimiser is the one the loss plugin pairs (Adam, lr 2e-4, betas (0.5, 0.999)), as in most
    later GAN benchmarks. Widths: ``hidden`` x ``depth`` on 2D points (128 x 2 keeps a batch-512
    ring step near or above 100/s on one CPU core); ``image_hidden`` x ``image_depth`` on flattened
    images (512 x 2, scaled down from 1200).
    """

    name = "mlp"
    paper = ("Goodfellow, I., Pouget-Abadie, J., Mirza, M., Xu, B., Warde-Farley, D., Ozair, S., Courville, A. & "
             "Bengio, Y. (2014). Generative Adversarial Nets. NeurIPS 2014.")
    conditional = False
    discriminator_features = True
    vectorizable_seeds = True
    defaults = {
        "batch_size": 100, "z_dim": 100, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999,
        "n_critic": 1,
        "hidden": 128, "depth": 2, "image_hidden": 512, "image_depth": 2,
    }
    hparam_docs = {
        "hidden": "units per hidden layer of G and D on 2D points",
        "depth": "hidden layers of G and D on 2D points",
        "image_hidden": "units per hidden layer of G and D on images",
        "image_depth": "hidden layers of G and D on images",
    }

    @classmethod
    def supports(cls, data: DataInfo) -> str | None:
        if data.kind == "points":
            return None
        if not data.is_image:
            return f"mlp models points or images, not {data.kind!r}"
        dims = math.prod(data.shape)
        if dims > MAX_IMAGE_DIMS:
            return f"images of {dims} values are too large for a dense GAN (max {MAX_IMAGE_DIMS})"
        return None

    def build(self, data: DataInfo, hparams: Mapping[str, Any]) -> tuple[nn.Module, nn.Module]:
        h = hparams  # the run's resolved hyperparameters: the core has applied the defaults
        if data.is_image:
            hidden, depth = int(h["image_hidden"]), int(h["image_depth"])
        else:
            hidden, depth = int(h["hidden"]), int(h["depth"])
        return (Generator(int(h["z_dim"]), data.shape, hidden, depth, bounded=data.is_image),
                Discriminator(data.shape, hidden, depth))


@hookimpl
def ganbench_register_architectures(registry):
    registry.add(MLP)
