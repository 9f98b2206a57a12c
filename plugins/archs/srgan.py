"""SRGAN (Ledig et al., 2017): a residual generator that upsamples by sub-pixel convolution, and a VGG-style D."""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from torch import nn

from ganbench import hookimpl
from ganbench.api import Architecture, DataInfo


class ResidualBlock(nn.Module):
    """conv3x3 - BN - PReLU - conv3x3 - BN, plus the input (figure 4, "B residual blocks")."""

    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.BatchNorm2d(ch), nn.PReLU(ch),
                                  nn.Conv2d(ch, ch, 3, padding=1), nn.BatchNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Generator(nn.Module):
    """SRResNet: conv9x9 - PReLU, ``blocks`` residual blocks, conv3x3 - BN plus the first feature map
    (the long skip), then one (conv3x3 to 4C - PixelShuffle(2) - PReLU) per doubling, conv9x9 - tanh."""

    def __init__(self, channels: int, side: int, factor: int, ch: int, blocks: int):
        super().__init__()
        self.input_shape = (channels, side // factor, side // factor)  # what it is given: the low-resolution image
        self.conditional = False
        self.head = nn.Sequential(nn.Conv2d(channels, ch, 9, padding=4), nn.PReLU(ch))
        self.blocks = nn.Sequential(*[ResidualBlock(ch) for _ in range(blocks)])
        self.after = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.BatchNorm2d(ch))
        ups = []
        for _ in range(int(math.log2(factor))):
            ups += [nn.Conv2d(ch, 4 * ch, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(ch)]
        self.upsample = nn.Sequential(*ups)
        self.tail = nn.Conv2d(ch, channels, 9, padding=4)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.head(x)
        h = h + self.after(self.blocks(h))
        return torch.tanh(self.tail(self.upsample(h)))


class Discriminator(nn.Module):
    """conv3x3 - LeakyReLU 0.2, then conv3x3 - BN - LeakyReLU blocks, stride 2 every other one, channels
    doubling at each stride, then dense ``hidden`` - LeakyReLU - dense 1 (a logit; the paper's sigmoid
    is the loss's)."""

    def __init__(self, channels: int, side: int, ch: int, hidden: int, downsamplings: int):
        super().__init__()
        layers = [nn.Conv2d(channels, ch, 3, padding=1), nn.LeakyReLU(0.2)]
        c = ch
        for i in range(downsamplings):
            layers += [nn.Conv2d(c, c, 3, stride=2, padding=1), nn.BatchNorm2d(c), nn.LeakyReLU(0.2)]
            if i < downsamplings - 1:
                layers += [nn.Conv2d(c, 2 * c, 3, padding=1), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.2)]
                c *= 2
        self.body = nn.Sequential(*layers)
        out_side = side
        for _ in range(downsamplings):
            out_side = (out_side + 1) // 2
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * out_side * out_side, hidden), nn.LeakyReLU(0.2),
                                  nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.body(x)).view(-1)


class SRGAN(Architecture):
    """SRGAN (Ledig et al., 2017): SRResNet G with sub-pixel upsampling, a VGG-style D on the targets.

    Paper: CVPR 2017, section 2 and figure 4. Kept: G is conv9x9 - PReLU, B residual blocks
    (conv3x3 - BN - PReLU - conv3x3 - BN, identity skip), conv3x3 - BN with a skip from the first
    feature map, two sub-pixel convolution stages (conv3x3 to 4C channels, PixelShuffle(2), PReLU) for
    the 4x factor, and conv9x9 out; D is conv3x3 - LeakyReLU(0.2), then conv - BN - LeakyReLU blocks
    with a stride of 2 every other one and doubling channels, dense - LeakyReLU - dense; Adam with
    lr 1e-4, beta1 0.9 (section 3.2). The content and adversarial terms of G's loss are the
    ``super_resolution`` task's (its ``content_loss``, ``adversarial_weight``), the adversarial game
    the loss plugin's (the paper's is the non-saturating one: ``--loss nonsaturating``).

    Departures, for a 2-core CPU and 28 px digits:
    * Width and depth: ``sr_ch`` = 32 channels and ``sr_blocks`` = 4 residual blocks in G (the paper's
      64 and 16); D has ``sr_d_ch`` = 32 to 64 channels over two stride-2 stages (28 -> 14 -> 7 px;
      the paper's 64 to 512 over four stages at 96 px) and a 256-unit dense layer (1024).
    * No SRResNet pre-training: G trains from scratch against D and the content loss from the first
      step (the paper initialises SRGAN with the MSE-trained SRResNet).
    * The output ends in tanh, as the targets lie in [-1, 1]; the paper's inputs are [0, 1] images,
      here the inputs are in [-1, 1] as every image of ganbench.
    * Batch 64 (16), PyTorch's default initialisation.
    """

    name = "srgan"
    paper = ("Ledig, C., Theis, L., Huszár, F., Caballero, J., Cunningham, A., Acosta, A., Aitken, A., "
             "Tejani, A., Totz, J., Wang, Z. & Shi, W. (2017). Photo-Realistic Single Image Super-Resolution "
             "Using a Generative Adversarial Network. CVPR 2017.")
    tasks = ("super_resolution",)
    generator_input = "low_resolution"
    image_sides = (28, 32, 64, 96)
    defaults = {
        "batch_size": 64, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.9, "beta2": 0.999, "n_critic": 1,
        "sr_factor": 4, "sr_ch": 32, "sr_blocks": 4, "sr_d_ch": 32, "sr_d_hidden": 256,
    }
    hparam_docs = {
        "sr_factor": "upscaling factor: the input's side times it is the target's (a power of 2)",
        "sr_ch": "channels of the generator's residual blocks",
        "sr_blocks": "residual blocks in the generator (16 in the paper)",
        "sr_d_ch": "channels of the discriminator's first convolution (doubled at each stride but the last)",
        "sr_d_hidden": "units of the discriminator's dense layer (1024 in the paper)",
    }
    hparam_limits = {"sr_factor": {"choices": (2, 4, 8)}, "sr_ch": {"low": 1}, "sr_blocks": {"low": 0},
                     "sr_d_ch": {"low": 1}, "sr_d_hidden": {"low": 1}}

    def build(self, data: DataInfo, hparams: Mapping[str, Any]) -> tuple[nn.Module, nn.Module]:
        h = hparams  # the run's resolved hyperparameters: the core has applied the defaults
        channels, side, _ = data.shape
        G = Generator(channels, side, int(h["sr_factor"]), int(h["sr_ch"]), int(h["sr_blocks"]))
        D = Discriminator(channels, side, int(h["sr_d_ch"]), int(h["sr_d_hidden"]), downsamplings=2)
        return G, D


@hookimpl
def ganbench_register_architectures(registry):
    registry.add(SRGAN)
