"""Conditional SNGAN: class-conditional BatchNorm generator and projection discriminator (Miyato & Koyama, 2018)."""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ganbench import hookimpl
from ganbench.api import Architecture, DataInfo
# The projection discriminator's body is SNGAN's ResNet discriminator; only the head differs.
from ganbench_plugins.archs.sngan_resnet import GEOMETRY, DBlock, xavier


def _require_labels(y: torch.Tensor | None) -> torch.Tensor:
    if y is None:
        raise ValueError("sngan_projection is class-conditional: pass integer labels y of shape [B]")
    return y


class ConditionalBatchNorm(nn.Module):
    """BatchNorm whose scale and shift are looked up per class (categorical conditional BN)."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Embedding(num_classes, channels)
        self.beta = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * self.gamma(y)[:, :, None, None] + self.beta(y)[:, :, None, None]


class GBlock(nn.Module):
    def __init__(self, cin: int, cout: int, num_classes: int):
        super().__init__()
        self.bn1, self.bn2 = ConditionalBatchNorm(cin, num_classes), ConditionalBatchNorm(cout, num_classes)
        self.conv1 = xavier(nn.Conv2d(cin, cout, 3, 1, 1), 2 ** 0.5)
        self.conv2 = xavier(nn.Conv2d(cout, cout, 3, 1, 1), 2 ** 0.5)
        self.shortcut = xavier(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class Generator(nn.Module):
    def __init__(self, z_dim: int, channels: int, side: int, ch: int, num_classes: int):
        super().__init__()
        self.z_dim = z_dim
        self.conditional = True
        self.base, n_up = GEOMETRY[side]
        self.ch = ch
        self.linear = xavier(nn.Linear(z_dim, self.base * self.base * ch))
        self.blocks = nn.ModuleList(GBlock(ch, ch, num_classes) for _ in range(n_up))
        self.bn = nn.BatchNorm2d(ch)
        self.out = xavier(nn.Conv2d(ch, channels, 3, 1, 1))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        y = _require_labels(y)
        h = self.linear(z).view(z.shape[0], self.ch, self.base, self.base)
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.out(F.relu(self.bn(h))))


class Discriminator(nn.Module):
    def __init__(self, channels: int, ch: int, num_classes: int):
        super().__init__()
        self.blocks = nn.Sequential(DBlock(channels, ch, down=True, first=True), DBlock(ch, ch, down=True),
                                    DBlock(ch, ch, down=False), DBlock(ch, ch, down=False))
        self.linear = spectral_norm(xavier(nn.Linear(ch, 1)))
        self.embed = spectral_norm(xavier(nn.Embedding(num_classes, ch)))

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return F.relu(self.blocks(x)).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        # The projection term <embed(y), phi(x)>: the paper's replacement for concatenating labels.
        return self.linear(h).view(-1) + (self.embed(_require_labels(y)) * h).sum(dim=1)


class SNGANProjection(Architecture):
    """Class-conditional ResNet GAN with projection D (Miyato & Koyama, 2018, "cGANs with Projection Discriminator").

    G: SNGAN's ResNet generator with categorical conditional BatchNorm (per-class scale and shift);
    D: SNGAN's spectrally normalised ResNet discriminator whose output adds the inner product of a
    (spectrally normalised) class embedding with the pooled features. Training as in the paper: Adam
    lr 2e-4, betas (0, 0.9), n_dis 5, batch 64, z 128 (the paper pairs it with the hinge loss).
    Scaling: the paper's CIFAR-size widths are 256 (G) and 128 (D); the defaults use ``g_ch`` =
    ``d_ch`` = 16 so that a full step with five D updates at batch 64 stays under a
    second on a CPU. Supports 28 px (G from 7x7, two blocks) and 32 px (from 4x4, three blocks).
    """

    name = "sngan_projection"
    paper = ("Miyato, T. & Koyama, M. (2018). cGANs with Projection Discriminator. ICLR 2018.")
    conditional = True
    discriminator_features = True
    image_sides = tuple(GEOMETRY)
    discriminator_parametrized = True  # spectral norm on D's layers
    defaults = {
        "batch_size": 64, "z_dim": 128, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.0, "beta2": 0.9,
        "n_critic": 5, "g_ch": 16, "d_ch": 16,
    }
    hparam_docs = {
        "g_ch": "channels of the generator's residual blocks",
        "d_ch": "channels of the projection discriminator's residual blocks",
    }

    def build(self, data: DataInfo, hparams: Mapping[str, Any]) -> tuple[nn.Module, nn.Module]:
        h = hparams  # the run's resolved hyperparameters: the core has applied the defaults
        channels, side, _ = data.shape
        return (Generator(int(h["z_dim"]), channels, side, int(h["g_ch"]), data.num_classes),
                Discriminator(channels, int(h["d_ch"]), data.num_classes))


@hookimpl
def ganbench_register_architectures(registry):
    registry.add(SNGANProjection)
