"""A compact BigGAN (Brock, Donahue & Simonyan, 2019): shared class embedding, hierarchical z, projection D."""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ganbench import hookimpl
from ganbench.api import Architecture, DataInfo
from ganbench_plugins.archs.sngan_resnet import DBlock

# Image side -> (side of G's first feature map, number of up-blocks): CIFAR-style 4 -> 32, MNIST 7 -> 28.
GEOMETRY = {28: (7, 2), 32: (4, 3)}


def _sn(module: nn.Module) -> nn.Module:
    # BigGAN initialises every layer orthogonally and spectrally normalises G as well as D.
    nn.init.orthogonal_(module.weight)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return spectral_norm(module)


def _require_labels(y: torch.Tensor | None) -> torch.Tensor:
    if y is None:
        raise ValueError("biggan is class-conditional: pass integer labels y of shape [B]")
    return y


def z_chunks(z_dim: int, n: int) -> list[int]:
    """Split sizes of z into ``n`` chunks; the first takes the remainder when ``z_dim`` is not divisible."""
    sizes = [z_dim // n] * n
    sizes[0] += z_dim - sum(sizes)
    return sizes


class ConditionalBatchNorm(nn.Module):
    """BatchNorm whose gain and bias are linear functions of [z chunk, shared class embedding]."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = _sn(nn.Linear(cond_dim, channels))
        self.bias = _sn(nn.Linear(cond_dim, channels))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        # Gain is centred on 1 so the untrained layer starts as a plain BatchNorm.
        gain = 1 + self.gain(cond)[:, :, None, None]
        return self.bn(x) * gain + self.bias(cond)[:, :, None, None]


class GBlock(nn.Module):
    def __init__(self, cin: int, cout: int, cond_dim: int):
        super().__init__()
        self.bn1, self.bn2 = ConditionalBatchNorm(cin, cond_dim), ConditionalBatchNorm(cout, cond_dim)
        self.conv1 = _sn(nn.Conv2d(cin, cout, 3, 1, 1))
        self.conv2 = _sn(nn.Conv2d(cout, cout, 3, 1, 1))
        self.shortcut = _sn(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, cond)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), cond)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


def _d_layer(module: nn.Module, gain: float = 1.0) -> nn.Module:
    """D's layers for SNGAN's residual DBlock: orthogonal and spectrally normalised (no residual gain)."""
    return _sn(module)


class Generator(nn.Module):
    def __init__(self, z_dim: int, channels: int, side: int, ch: int, num_classes: int, shared_dim: int):
        super().__init__()
        self.z_dim = z_dim
        self.conditional = True
        self.base, n_up = GEOMETRY[side]
        self.ch = ch
        # Hierarchical latent: one chunk feeds the first linear layer, one chunk each block.
        self.chunks = z_chunks(z_dim, n_up + 1)
        self.shared = nn.Embedding(num_classes, shared_dim)
        self.linear = _sn(nn.Linear(self.chunks[0], self.base * self.base * ch))
        self.blocks = nn.ModuleList(GBlock(ch, ch, size + shared_dim) for size in self.chunks[1:])
        self.bn = nn.BatchNorm2d(ch)
        self.out = _sn(nn.Conv2d(ch, channels, 3, 1, 1))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        shared = self.shared(_require_labels(y))
        first, *rest = torch.split(z, self.chunks, dim=1)
        h = self.linear(first).view(z.shape[0], self.ch, self.base, self.base)
        for block, chunk in zip(self.blocks, rest):
            h = block(h, torch.cat([chunk, shared], dim=1))
        return torch.tanh(self.out(F.relu(self.bn(h))))


class Discriminator(nn.Module):
    def __init__(self, channels: int, ch: int, num_classes: int):
        super().__init__()
        self.blocks = nn.Sequential(DBlock(channels, ch, down=True, first=True, layer=_d_layer),
                                    DBlock(ch, ch, down=True, layer=_d_layer),
                                    DBlock(ch, ch, down=False, layer=_d_layer),
                                    DBlock(ch, ch, down=False, layer=_d_layer))
        self.linear = _sn(nn.Linear(ch, 1))
        self.embed = _sn(nn.Embedding(num_classes, ch))

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return F.relu(self.blocks(x)).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        return self.linear(h).view(-1) + (self.embed(_require_labels(y)) * h).sum(dim=1)


class BigGAN(Architecture):
    """Compact class-conditional BigGAN (Brock, Donahue & Simonyan, 2019, "Large Scale GAN Training ...").

    Paper: "Large Scale GAN Training for High Fidelity Natural Image Synthesis", ICLR 2019.

    Kept from the paper: a shared class embedding concatenated with per-block chunks of a
    hierarchical z, projected linearly to the gains and biases of every conditional BatchNorm in G;
    a ResNet G and a ResNet projection D (Miyato & Koyama, 2018); spectral normalisation in both G
    and D; orthogonal initialisation; Adam with betas (0, 0.999), lr 5e-5 for G and 2e-4 for D, two
    D steps per G step (the paper pairs it with the hinge loss). Dropped: self-attention, orthogonal
    regularisation (a loss term), the truncation trick and G's EMA (the ``ema`` technique).
    Scaling: batch 64 instead of the paper's 2048; z_dim 120 (the paper's 128 px value) is split
    into 1 + number-of-blocks chunks; widths ``g_ch`` 32 and ``d_ch`` 16 instead of hundreds of
    channels, so that a step at batch 64 stays under a second on a CPU.
    """

    name = "biggan"
    paper = ("Brock, A., Donahue, J. & Simonyan, K. (2019). Large Scale GAN Training for High Fidelity "
             "Natural Image Synthesis. ICLR 2019.")
    conditional = True
    discriminator_features = True
    image_sides = tuple(GEOMETRY)
    discriminator_parametrized = True  # spectral norm on D's layers
    defaults = {
        "batch_size": 64, "z_dim": 120, "lr_g": 5e-5, "lr_d": 2e-4, "beta1": 0.0, "beta2": 0.999,
        "n_critic": 2, "g_ch": 32, "d_ch": 16, "shared_dim": 128,
    }
    hparam_docs = {
        "g_ch": "channels of the generator's residual blocks",
        "d_ch": "channels of the projection discriminator's residual blocks",
        "shared_dim": "size of the shared class embedding fed, with a chunk of z, to each conditional batch norm",
    }

    def build(self, data: DataInfo, hparams: Mapping[str, Any]) -> tuple[nn.Module, nn.Module]:
        h = hparams  # the run's resolved hyperparameters: the core has applied the defaults
        channels, side, _ = data.shape
        G = Generator(int(h["z_dim"]), channels, side, int(h["g_ch"]), data.num_classes, int(h["shared_dim"]))
        D = Discriminator(channels, int(h["d_ch"]), data.num_classes)
        return G, D


@hookimpl
def ganbench_register_architectures(registry):
    registry.add(BigGAN)
