"""SNGAN's ResNet generator and spectrally normalised ResNet discriminator (Miyato et al., 2018)."""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ganbench import hookimpl
from ganbench.api import Architecture, DataInfo

# Image side -> (side of G's first feature map, number of up-blocks). The paper's CIFAR-10 G goes
# 4 -> 32 with three blocks; 28 px starts from 7x7 so two blocks reach MNIST's size.
GEOMETRY = {28: (7, 2), 32: (4, 3)}


def xavier(module: nn.Module, gain: float = 1.0) -> nn.Module:
    # The authors' Chainer code initialises ResNet layers with Glorot-uniform; sqrt(2) on the
    # residual convs keeps the ReLU branch's variance comparable to the shortcut's.
    nn.init.xavier_uniform_(module.weight, gain)
    if getattr(module, "bias", None) is not None:  # embeddings have none
        nn.init.zeros_(module.bias)
    return module


def sn_xavier(module: nn.Module, gain: float = 1.0) -> nn.Module:
    """SNGAN's discriminator layer: Glorot-uniform, then spectral norm."""
    return spectral_norm(xavier(module, gain))


class GBlock(nn.Module):
    """BN-ReLU-upsample-conv3x3-BN-ReLU-conv3x3, plus an upsampled 1x1 shortcut. ``layer(module, gain)``
    initialises (and may wrap) each conv: SNGAN's Glorot-uniform by default; SAGAN's spectral norm."""

    def __init__(self, cin: int, cout: int, layer=xavier):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
        self.conv1 = layer(nn.Conv2d(cin, cout, 3, 1, 1), 2 ** 0.5)
        self.conv2 = layer(nn.Conv2d(cout, cout, 3, 1, 1), 2 ** 0.5)
        self.shortcut = layer(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class DBlock(nn.Module):
    """Pre-activation residual block; ``first`` is the paper's "optimized" block that sees raw pixels."""

    def __init__(self, cin: int, cout: int, down: bool, first: bool = False, layer=sn_xavier):
        super().__init__()
        self.down, self.first = down, first
        # layer(module, gain): SNGAN's spectrally normalised Glorot-uniform by default (SAGAN, BigGAN: theirs)
        self.conv1 = layer(nn.Conv2d(cin, cout, 3, 1, 1), 2 ** 0.5)
        self.conv2 = layer(nn.Conv2d(cout, cout, 3, 1, 1), 2 ** 0.5)
        self.shortcut = layer(nn.Conv2d(cin, cout, 1)) if (down or cin != cout) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)  # no ReLU on pixels: it would discard negative values
        h = self.conv2(F.relu(self.conv1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.shortcut is not None:
            # Pool before the 1x1 conv on the first block (cheaper, same function); after it elsewhere.
            s = self.shortcut(F.avg_pool2d(s, 2)) if self.first else self.shortcut(s)
            if self.down and not self.first:
                s = F.avg_pool2d(s, 2)
        return h + s


class Generator(nn.Module):
    def __init__(self, z_dim: int, channels: int, side: int, ch: int):
        super().__init__()
        self.z_dim = z_dim
        self.conditional = False
        self.base, n_up = GEOMETRY[side]
        self.ch = ch
        self.linear = xavier(nn.Linear(z_dim, self.base * self.base * ch))
        self.blocks = nn.Sequential(*[GBlock(ch, ch) for _ in range(n_up)])
        self.bn = nn.BatchNorm2d(ch)
        self.out = xavier(nn.Conv2d(ch, channels, 3, 1, 1))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.linear(z).view(z.shape[0], self.ch, self.base, self.base)
        h = self.blocks(h)
        return torch.tanh(self.out(F.relu(self.bn(h))))


class Discriminator(nn.Module):
    def __init__(self, channels: int, ch: int):
        super().__init__()
        # Two downsampling blocks then two at full width, for 32 px (-> 8x8) and 28 px (-> 7x7) alike.
        self.blocks = nn.Sequential(DBlock(channels, ch, down=True, first=True), DBlock(ch, ch, down=True),
                                    DBlock(ch, ch, down=False), DBlock(ch, ch, down=False))
        self.linear = spectral_norm(xavier(nn.Linear(ch, 1)))

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        # Global sum pooling, as in the paper, rather than mean: keeps the scale of the reference model.
        return F.relu(self.blocks(x)).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.linear(self.features(x)).view(-1)


class SNGANResNet(Architecture):
    """ResNet GAN, spectrally normalised D (Miyato, Kataoka, Koyama & Yoshida, 2018, "Spectral Normalization for GANs").

    Layout of the paper's CIFAR-10 ResNet (appendix B.4): G = linear to 4x4, three upsampling
    residual blocks, BN-ReLU-conv3x3-tanh; D = an "optimized" first block, three residual blocks
    (two downsampling), ReLU, global sum pooling, linear; spectral norm on every D layer. Training
    (paper, setting for the ResNet results): Adam lr 2e-4, betas (0, 0.9), n_dis 5, batch 64, z 128.
    Scaling: the paper's widths are 256 (G) and 128 (D); the defaults use ``g_ch`` = ``d_ch`` = 16
    so that a full step (five D updates and one G update) at batch 64 stays under a
    second on a CPU. Set ``g_ch: 256, d_ch: 128`` for the paper's widths. At 28 px G starts from 7x7
    with two blocks.
    """

    name = "sngan_resnet"
    paper = ("Miyato, T., Kataoka, T., Koyama, M. & Yoshida, Y. (2018). Spectral Normalization for "
             "Generative Adversarial Networks. ICLR 2018.")
    conditional = False
    discriminator_features = True
    image_sides = tuple(GEOMETRY)
    discriminator_parametrized = True  # spectral norm on D's layers
    defaults = {
        "batch_size": 64, "z_dim": 128, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.0, "beta2": 0.9,
        "n_critic": 5, "g_ch": 16, "d_ch": 16,
    }
    hparam_docs = {
        "g_ch": "channels of the generator's residual blocks",
        "d_ch": "channels of the discriminator's residual blocks",
    }

    def build(self, data: DataInfo, hparams: Mapping[str, Any]) -> tuple[nn.Module, nn.Module]:
        h = hparams  # the run's resolved hyperparameters: the core has applied the defaults
        channels, side, _ = data.shape
        return (Generator(int(h["z_dim"]), channels, side, int(h["g_ch"])),
                Discriminator(channels, int(h["d_ch"])))


@hookimpl
def ganbench_register_architectures(registry):
    registry.add(SNGANResNet)
