"""SAGAN (Zhang, Goodfellow, Metaxas & Odena, 2019): ResNet G and D with self-attention, spectral norm on both."""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ganbench import hookimpl
from ganbench.api import Architecture, DataInfo
from ganbench_plugins.archs._attention import SelfAttention
from ganbench_plugins.archs.sngan_resnet import DBlock, GBlock

# Image side -> (side of G's first feature map, number of up-blocks, number of D's down-blocks).
# G doubles up to the image side; D halves down to 7 or 8 pixels, then adds one block at that size.
GEOMETRY = {28: (7, 2, 2), 32: (4, 3, 2), 64: (4, 4, 3)}


def _sn(module: nn.Module, gain: float = 1.0) -> nn.Module:
    # The paper does not give an initialisation; Glorot-uniform as in SNGAN's ResNet, whose G and D
    # SAGAN's build on (sqrt(2) on convs followed by a ReLU keeps the residual branch's variance).
    nn.init.xavier_uniform_(module.weight, gain)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return spectral_norm(module)


class Generator(nn.Module):
    def __init__(self, z_dim: int, channels: int, side: int, ch: int):
        super().__init__()
        self.z_dim = z_dim
        self.conditional = False
        self.base, n_up, _ = GEOMETRY[side]
        self.ch = ch
        self.linear = _sn(nn.Linear(z_dim, self.base * self.base * ch))
        blocks: list[nn.Module] = [GBlock(ch, ch, layer=_sn) for _ in range(n_up)]
        # Attention on the half-side map: after the next-to-last up-block (see the class docstring).
        blocks.insert(n_up - 1, SelfAttention(ch))
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(ch)
        self.out = _sn(nn.Conv2d(ch, channels, 3, 1, 1))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.linear(z).view(z.shape[0], self.ch, self.base, self.base)
        return torch.tanh(self.out(F.relu(self.bn(self.blocks(h)))))


class Discriminator(nn.Module):
    def __init__(self, channels: int, side: int, ch: int):
        super().__init__()
        _, _, n_down = GEOMETRY[side]
        # Attention on the half-side map too: right after the first (downsampling) block.
        blocks: list[nn.Module] = [DBlock(channels, ch, down=True, first=True, layer=_sn), SelfAttention(ch)]
        blocks += [DBlock(ch, ch, down=True, layer=_sn) for _ in range(n_down - 1)]
        blocks.append(DBlock(ch, ch, down=False, layer=_sn))
        self.blocks = nn.Sequential(*blocks)
        self.linear = _sn(nn.Linear(ch, 1))

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        # Global sum pooling after a last ReLU, as in the SNGAN ResNet discriminator SAGAN builds on.
        return F.relu(self.blocks(x)).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.linear(self.features(x)).view(-1)


class SAGAN(Architecture):
    """Self-attention GAN (Zhang, Goodfellow, Metaxas & Odena, 2019, "Self-Attention Generative Adversarial Networks").

    Paper: ICML 2019 (PMLR 97). Kept from the paper: ResNet G and D (the residual blocks of
    Miyato et al.'s SNGAN, which SAGAN builds on) with one self-attention block each (section 3:
    1x1 query/key/value convolutions to C/8 channels, a softmax over positions, a 1x1 output
    convolution, a learned gamma initialised to 0; ``_attention.SelfAttention``); spectral
    normalisation on every convolution and linear layer of both G and D, the attention block's
    included, and the two time-scale update rule (section 4); Adam with lr_g 1e-4, lr_d 4e-4,
    betas (0, 0.9), one D step per G step (section 5). The paper trains with the hinge loss, a
    separate plugin here: pick ``--loss hinge``.

    Departures:
    * Unconditional: plain BatchNorm in G instead of class-conditional BatchNorm, and no projection
      term in D (ganbench's sagan models the data distribution, labels or not).
    * Where attention sits: the paper's 128 px model attends at its 32x32 feature maps; here G and
      D each attend at the map of half the image side (14x14 at 28 px, 16x16 at 32 px, 32x32 at
      64 px), since a quarter of a 28 or 32 px side is 7 or 8 px, the small maps the paper's
      ablation (table 1) found to help least. G: after its next-to-last up-block; D: after its
      first down-block.
    * Scaling: batch 64 instead of 256; constant widths ``g_ch`` = ``d_ch`` = 16 instead of the
      paper's hundreds of channels, as ``sngan_resnet``'s defaults, so that a step at batch 64
      takes about half a second on one CPU thread at 28 px (32 channels: about a second); the
      attention's query and key then have 2 channels. D halves to 7 or 8 px and adds one
      non-downsampling block, as SNGAN's CIFAR D. z_dim 128 (the paper does not say; SNGAN's).
    * Initialisation (unspecified in the paper): Glorot-uniform, as SNGAN's ResNet.

    The attention is built in, so ``attention_slots`` is empty: the self_attention technique skips
    sagan rather than add a second block.
    """

    name = "sagan"
    paper = ("Zhang, H., Goodfellow, I., Metaxas, D. & Odena, A. (2019). Self-Attention Generative "
             "Adversarial Networks. ICML 2019, PMLR 97.")
    conditional = False
    discriminator_features = True
    discriminator_parametrized = True  # spectral norm on D's layers
    image_sides = tuple(GEOMETRY)
    defaults = {
        "batch_size": 64, "z_dim": 128, "lr_g": 1e-4, "lr_d": 4e-4, "beta1": 0.0, "beta2": 0.9,
        "n_critic": 1, "g_ch": 16, "d_ch": 16,
    }
    hparam_docs = {
        "g_ch": "channels of the generator's residual blocks and of its self-attention block",
        "d_ch": "channels of the discriminator's residual blocks and of its self-attention block",
    }

    def build(self, data: DataInfo, hparams: Mapping[str, Any]) -> tuple[nn.Module, nn.Module]:
        h = hparams  # the run's resolved hyperparameters: the core has applied the defaults
        channels, side, _ = data.shape
        return (Generator(int(h["z_dim"]), channels, side, int(h["g_ch"])),
                Discriminator(channels, side, int(h["d_ch"])))


@hookimpl
def ganbench_register_architectures(registry):
    registry.add(SAGAN)
