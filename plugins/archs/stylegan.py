"""A compact style-based generator (Karras, Laine & Aila, 2019) at 28 and 32 pixels."""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ganbench import hookimpl
from ganbench.api import Architecture, DataInfo

# Image side -> (side of the learned constant, number of 2x upsamplings).
GEOMETRY = {28: (7, 2), 32: (4, 3)}


class EqualLinear(nn.Module):
    """Linear layer with the equalised learning rate of Progressive GAN: weights stored as N(0, 1) and
    scaled at run time, so Adam's per-parameter step sizes act alike on every layer. ``lr_mul`` slows a
    layer down (StyleGAN's mapping network uses 0.01)."""

    def __init__(self, cin: int, cout: int, lr_mul: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.full((cout,), bias_init / lr_mul))
        self.scale = lr_mul / math.sqrt(cin)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    """Convolution with the equalised learning rate (see :class:`EqualLinear`)."""

    def __init__(self, cin: int, cout: int, kernel: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = 1 / math.sqrt(cin * kernel * kernel)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class StyledLayer(nn.Module):
    """conv -> per-pixel noise -> bias + LeakyReLU -> AdaIN(w): one style input of the synthesis network."""

    def __init__(self, cin: int, cout: int, w_dim: int, conv: bool = True):
        super().__init__()
        self.conv = EqualConv2d(cin, cout, 3) if conv else None
        # Learned per-channel noise strength, zero at start as in the paper's released models.
        self.noise_strength = nn.Parameter(torch.zeros(1, cout, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, cout, 1, 1))
        # The style's scale half starts at 1 so AdaIN begins as a plain instance normalisation.
        self.style = EqualLinear(w_dim, 2 * cout)
        with torch.no_grad():
            self.style.bias[:cout].fill_(1.0)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.conv is not None:
            x = self.conv(x)
        # Noise comes from the global RNG, which the trainer checkpoints, so resumed runs stay identical.
        noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        x = F.leaky_relu(x + self.noise_strength * noise + self.bias, 0.2)
        scale, shift = self.style(w).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return F.instance_norm(x) * scale + shift


class Generator(nn.Module):
    def __init__(self, z_dim: int, channels: int, side: int, ch: int, mapping_layers: int, mixing_prob: float):
        super().__init__()
        self.z_dim = z_dim
        self.conditional = False
        self.mixing_prob = mixing_prob
        base, n_up = GEOMETRY[side]
        self.mapping = nn.ModuleList(EqualLinear(z_dim, z_dim, lr_mul=0.01) for _ in range(mapping_layers))
        self.const = nn.Parameter(torch.ones(1, ch, base, base))
        layers = [StyledLayer(ch, ch, z_dim, conv=False), StyledLayer(ch, ch, z_dim)]
        for _ in range(n_up):
            layers += [StyledLayer(ch, ch, z_dim), StyledLayer(ch, ch, z_dim)]
        self.layers = nn.ModuleList(layers)
        self.to_rgb = EqualConv2d(ch, channels, 1)

    def map(self, z: torch.Tensor) -> torch.Tensor:
        w = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)  # pixel norm of z
        for layer in self.mapping:
            w = F.leaky_relu(layer(w), 0.2)
        return w

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        n_styles = len(self.layers)
        ws = self.map(z).unsqueeze(1).expand(-1, n_styles, -1)
        if self.training and self.mixing_prob > 0 and torch.rand(()) < self.mixing_prob:
            # Style mixing regularisation: layers past a random crossover take a second latent's style.
            crossover = int(torch.randint(1, n_styles, ()))
            ws2 = self.map(torch.randn_like(z)).unsqueeze(1).expand(-1, n_styles, -1)
            ws = torch.cat([ws[:, :crossover], ws2[:, crossover:]], dim=1)
        # A copy, not an expand() view: under no_grad a view of a parameter still claims requires_grad
        # without a grad_fn, which torch.utils.flop_counter's module tracker (used by the runner) rejects.
        x = self.const.repeat(z.shape[0], 1, 1, 1)
        for i, layer in enumerate(self.layers):
            if i >= 2 and i % 2 == 0:
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = layer(x, ws[:, i])
        return torch.tanh(self.to_rgb(x))


class Discriminator(nn.Module):
    """Progressive GAN's discriminator (equalised learning rate, minibatch standard deviation)."""

    def __init__(self, channels: int, side: int, ch: int):
        super().__init__()
        base, n_down = GEOMETRY[side]
        self.from_rgb = EqualConv2d(channels, ch, 1)
        self.convs = nn.ModuleList(EqualConv2d(ch, ch, 3) for _ in range(2 * n_down))
        self.final_conv = EqualConv2d(ch + 1, ch, 3)
        self.fc = EqualLinear(ch * base * base, ch)
        self.head = EqualLinear(ch, 1)

    @staticmethod
    def minibatch_stddev(x: torch.Tensor) -> torch.Tensor:
        # Groups of up to 4 samples, as in Progressive GAN; a group must divide the batch.
        group = next(g for g in (4, 3, 2, 1) if x.shape[0] % g == 0)
        y = x.view(group, -1, *x.shape[1:])
        std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # one value per group slot
        std = std.view(1, -1, 1, 1, 1).expand(group, -1, 1, x.shape[2], x.shape[3]).reshape(x.shape[0], 1, *x.shape[2:])
        return torch.cat([x, std], dim=1)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = F.leaky_relu(self.from_rgb(x), 0.2)
        for i, conv in enumerate(self.convs):
            h = F.leaky_relu(conv(h), 0.2)
            if i % 2 == 1:
                h = F.avg_pool2d(h, 2)
        h = F.leaky_relu(self.final_conv(self.minibatch_stddev(h)), 0.2)
        return F.leaky_relu(self.fc(h.flatten(1)), 0.2)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x)).view(-1)


class StyleGAN(Architecture):
    """Compact style-based generator (Karras, Laine & Aila, 2019, "A Style-Based Generator Architecture for GANs").

    Kept from the paper: the mapping network (8 layers, learning-rate multiplier 0.01) from z to w,
    a learned constant input, per-layer styles applied by AdaIN (instance norm, then a scale and shift
    from an affine map of w), per-pixel noise inputs with learned per-channel strengths, bilinear
    upsampling, style mixing regularisation (probability 0.9), equalised learning rate everywhere,
    and Progressive GAN's discriminator with a minibatch standard-deviation layer. Training: Adam
    lr 1e-3, betas (0, 0.99), one D step per G step (the paper uses the non-saturating loss with R1,
    gamma 10: the ``r1`` loss plugin). Dropped: progressive growing, the blur filter, truncation.
    Scaling: the paper's widths (512 channels, 512-dim z and w) become ``ch`` 32 and ``z_dim`` 128
    so that a step at batch 64 stays well under a second on a CPU. The output passes through tanh
    to meet ganbench's [-1, 1] contract. Noise and mixing draw from the global torch RNG, which the
    trainer saves in checkpoints.
    """

    name = "stylegan"
    paper = ("Karras, T., Laine, S. & Aila, T. (2019). A Style-Based Generator Architecture for Generative "
             "Adversarial Networks. CVPR 2019.")
    conditional = False
    discriminator_features = True
    image_sides = tuple(GEOMETRY)
    discriminator_minibatch_layer = True  # minibatch standard deviation before D's last block
    defaults = {
        "batch_size": 64, "z_dim": 128, "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.0, "beta2": 0.99,
        "n_critic": 1, "ch": 32, "d_ch": 32, "mapping_layers": 8, "mixing_prob": 0.9,
    }
    hparam_docs = {
        "ch": "channels of the synthesis network's blocks",
        "d_ch": "channels of the discriminator's blocks",
        "mapping_layers": "layers of the mapping network from z to the style w (8 in StyleGAN)",
        "mixing_prob": "probability that a training batch uses style mixing (two latents, random crossover)",
    }
    hparam_limits = {
        "mixing_prob": {"low": 0, "high": 1},
    }

    def build(self, data: DataInfo, hparams: Mapping[str, Any]) -> tuple[nn.Module, nn.Module]:
        h = hparams  # the run's resolved hyperparameters: the core has applied the defaults
        channels, side, _ = data.shape
        G = Generator(int(h["z_dim"]), channels, side, int(h["ch"]), int(h["mapping_layers"]),
                      float(h["mixing_prob"]))
        D = Discriminator(channels, side, int(h["d_ch"]))
        return G, D


@hookimpl
def ganbench_register_architectures(registry):
    registry.add(StyleGAN)
