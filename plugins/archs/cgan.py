"""Conditional GAN (Mirza & Osindero, 2014): a fully connected GAN given the class label, on flattened images."""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ganbench import hookimpl
from ganbench.api import Architecture, DataInfo

MAX_IMAGE_DIMS = 3072  # 32x32x3: beyond this a dense layer dwarfs what a convolutional net needs


def _require_labels(y: torch.Tensor | None) -> torch.Tensor:
    if y is None:
        raise ValueError("cgan is class-conditional: pass integer labels y of shape [B]")
    return y


class Maxout(nn.Module):
    """A linear layer followed by a max over ``pieces`` linear pieces per unit (Goodfellow et al., 2013)."""

    def __init__(self, cin: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(cin, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(x.shape[0], self.units, self.pieces).amax(dim=2)


class Generator(nn.Module):
    def __init__(self, z_dim: int, shape: tuple[int, ...], num_classes: int, z_hidden: int, y_hidden: int,
                 hidden: int):
        super().__init__()
        self.z_dim = z_dim
        self.conditional = True
        self.shape = tuple(shape)
        self.num_classes = num_classes
        self.z_path = nn.Sequential(nn.Linear(z_dim, z_hidden), nn.ReLU())
        self.y_path = nn.Sequential(nn.Linear(num_classes, y_hidden), nn.ReLU())
        self.joint = nn.Sequential(nn.Linear(z_hidden + y_hidden, hidden), nn.ReLU(),
                                   nn.Linear(hidden, math.prod(shape)), nn.Tanh())

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        onehot = F.one_hot(_require_labels(y), self.num_classes).to(z.dtype)
        h = torch.cat([self.z_path(z), self.y_path(onehot)], dim=1)
        return self.joint(h).view(z.shape[0], *self.shape)


class Discriminator(nn.Module):
    def __init__(self, shape: tuple[int, ...], num_classes: int, x_units: int, y_units: int, units: int):
        super().__init__()
        self.num_classes = num_classes
        # Piece counts are the paper's (5 on each input path, 4 on the joint layer).
        self.x_path = Maxout(math.prod(shape), x_units, 5)
        self.y_path = Maxout(num_classes, y_units, 5)
        self.joint = Maxout(x_units + y_units, units, 4)
        self.head = nn.Linear(units, 1)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        onehot = F.one_hot(_require_labels(y), self.num_classes).to(x.dtype)
        return self.joint(torch.cat([self.x_path(x.flatten(1)), self.y_path(onehot)], dim=1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x, y)).view(-1)


class CGAN(Architecture):
    """Conditional fully connected GAN (Mirza & Osindero, 2014, "Conditional Generative Adversarial Nets").

    The paper's MNIST model: G maps z to 200 ReLU units and the one-hot label to 1000, then a joint
    1200-unit ReLU layer and the output layer (sigmoid in the paper, tanh here for [-1, 1] data);
    D maps x to a 240-unit, 5-piece maxout layer and the label to a 50-unit, 5-piece one, then a
    joint 240-unit, 4-piece maxout layer and the score. Minibatch 100 as in the paper; the paper's
    SGD with decaying rate and momentum and its dropout are replaced by the loss plugin's Adam
    (lr 2e-4, betas (0.5, 0.999)) and no dropout, so D is a deterministic function of its inputs.
    Widths are the paper's: the model is small enough to run quickly on a CPU.
    """

    name = "cgan"
    paper = "Mirza, M. & Osindero, S. (2014). Conditional Generative Adversarial Nets. arXiv:1411.1784."
    conditional = True
    discriminator_features = True
    defaults = {
        "batch_size": 100, "z_dim": 100, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999,
        "n_critic": 1,
        "g_z_hidden": 200, "g_y_hidden": 1000, "g_hidden": 1200,
        "d_x_units": 240, "d_y_units": 50, "d_units": 240,
    }
    hparam_docs = {
        "g_z_hidden": "units of G's hidden layer for z (200 in the paper)",
        "g_y_hidden": "units of G's hidden layer for the label (1000 in the paper)",
        "g_hidden": "units of G's joint hidden layer (1200 in the paper)",
        "d_x_units": "units of D's 5-piece maxout layer for x (240 in the paper)",
        "d_y_units": "units of D's 5-piece maxout layer for the label (50 in the paper)",
        "d_units": "units of D's joint 4-piece maxout layer (240 in the paper)",
    }

    @classmethod
    def supports(cls, data: DataInfo) -> str | None:
        if not data.is_image:
            return "cgan models flattened images only"
        dims = math.prod(data.shape)
        if dims > MAX_IMAGE_DIMS:
            return f"images of {dims} values are too large for a dense GAN (max {MAX_IMAGE_DIMS})"
        return super().supports(data)  # the labels a conditional architecture needs

    def build(self, data: DataInfo, hparams: Mapping[str, Any]) -> tuple[nn.Module, nn.Module]:
        h = hparams  # the run's resolved hyperparameters: the core has applied the defaults
        G = Generator(int(h["z_dim"]), data.shape, data.num_classes,
                      int(h["g_z_hidden"]), int(h["g_y_hidden"]), int(h["g_hidden"]))
        D = Discriminator(data.shape, data.num_classes, int(h["d_x_units"]), int(h["d_y_units"]), int(h["d_units"]))
        return G, D


@hookimpl
def ganbench_register_architectures(registry):
    registry.add(CGAN)
