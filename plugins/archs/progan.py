"""Progressive GAN (Karras, Aila, Laine & Lehtinen, 2018): G and D grow from 4 or 7 pixels, one doubling at a time."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ganbench import hookimpl
from ganbench.api import Architecture, DataInfo

BASES = (4, 7)   # smallest sides: 4 * 2^k for 32, 64, ... px; 7 * 2^k for 28 px (MNIST) and its doublings
FULL_WIDTH_SIDE = 32  # the paper's widths: the same up to 32 px, halved per doubling above


def _base(side: int) -> int | None:
    """The smallest side ``side`` halves down to (4 or 7), or ``None`` if it is neither times 2^k."""
    for base in BASES:
        k = side // base
        if side % base == 0 and k & (k - 1) == 0:
            return base
    return None


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Which resolution trains after how many training images: a pure function of the images shown.

    ``sides`` are the resolutions from the first to the last. The first trains for ``stable`` images;
    each later one fades in over ``fade`` images (its weight alpha rising linearly from 0 to 1), then
    trains alone for ``stable`` images; the last one trains alone until the run ends (the paper's
    schedule, ``lod`` of its code).
    """

    sides: tuple[int, ...]
    stable: int  # images
    fade: int    # images

    def at(self, images: int) -> tuple[int, float]:
        """``(level, alpha)``: the index in ``sides`` of the highest resolution in use, and its weight
        (below 1 only during its fade-in, when level - 1 supplies the rest)."""
        last = len(self.sides) - 1
        period = self.stable + self.fade
        if last == 0 or period == 0:
            return last, 1.0
        done, into = divmod(int(images), period)
        if done >= last:
            return last, 1.0
        if into < self.stable:
            return done, 1.0
        return done + 1, (into - self.stable) / self.fade

    @property
    def final_images(self) -> int:
        """Images shown when the last fade-in ends: from then on, only the last resolution trains."""
        return (len(self.sides) - 1) * (self.stable + self.fade)

    def describe(self, images: int) -> str:
        level, alpha = self.at(images)
        if alpha < 1:
            return f"fade-in {self.sides[level - 1]}->{self.sides[level]} px, alpha {alpha:.3f}"
        return f"{self.sides[level]} px"


# ---------------------------------------------------------------------------------------------------
# Layers: equalised learning rate (section 4.1) and pixelwise feature normalisation (section 4.2).

class EqualConv2d(nn.Conv2d):
    """A convolution whose weight is stored as N(0, 1) and multiplied at run time by He's constant
    ``gain / sqrt(fan_in)``: Adam's scale-free steps then move every layer at the same speed."""

    def __init__(self, cin: int, cout: int, kernel: int, gain: float = math.sqrt(2)):
        super().__init__(cin, cout, kernel, padding=kernel // 2)
        self.scale = gain / math.sqrt(cin * kernel * kernel)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, self.stride, self.padding)


class EqualLinear(nn.Linear):
    """A linear layer with the equalised learning rate (see :class:`EqualConv2d`)."""

    def __init__(self, cin: int, cout: int, gain: float = math.sqrt(2)):
        super().__init__(cin, cout)
        self.scale = gain / math.sqrt(cin)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each pixel's feature vector scaled to unit mean square (section 4.2, epsilon 1e-8)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def minibatch_stddev(x: torch.Tensor, group_size: int) -> torch.Tensor:
    """Section 3: one more feature map, the standard deviation of each feature over a group of samples,
    averaged over features and pixels. Samples i, i + M, i + 2M... form a group (as the paper's code
    reshapes); the group shrinks to the largest divisor of the batch not above ``group_size``."""
    B = x.shape[0]
    g = max(d for d in range(1, min(group_size, B) + 1) if B % d == 0)
    y = x.reshape(g, B // g, *x.shape[1:])
    std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))   # [B // g]
    stat = std.repeat(g).view(B, 1, 1, 1).expand(B, 1, x.shape[2], x.shape[3])
    return torch.cat([x, stat], dim=1)


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


def _width(side: int, ch: int) -> int:
    """Channels at ``side``: ``ch`` up to 32 px, halved for each doubling above (paper, table 2)."""
    halvings = max(0, math.ceil(math.log2(side / FULL_WIDTH_SIDE)))
    return max(ch >> halvings, 1)


class _Grows(nn.Module):
    """Holds the schedule and, as a buffer, the images shown that :meth:`ProGAN.set_progress` last set.

    A buffer, so that it travels with the weights: a checkpoint, the best generator (``best.pt``) and
    an EMA copy carry the state they were saved in."""

    def __init__(self, schedule: Schedule, final_side: int):
        super().__init__()
        self.schedule = schedule
        self.final_side = final_side
        self.register_buffer("images_shown", torch.zeros((), dtype=torch.long))

    def progress(self) -> tuple[int, float]:
        return self.schedule.at(int(self.images_shown))


class Generator(_Grows):
    def __init__(self, z_dim: int, channels: int, schedule: Schedule, final_side: int, ch: int):
        super().__init__(schedule, final_side)
        self.z_dim = z_dim
        self.conditional = False
        sides = schedule.sides
        widths = [_width(s, ch) for s in sides]
        self.base, self.width0 = sides[0], widths[0]
        # The paper's first block: a 4x4 "convolution" of the 1x1 latent, i.e. a dense layer, then a 3x3 conv.
        self.dense = EqualLinear(z_dim, widths[0] * sides[0] ** 2)
        self.base_conv = EqualConv2d(widths[0], widths[0], 3)
        # Block j doubles the side: nearest upsampling, two 3x3 convolutions.
        self.blocks = nn.ModuleList(nn.ModuleList([EqualConv2d(widths[j - 1], widths[j], 3),
                                                   EqualConv2d(widths[j], widths[j], 3)])
                                    for j in range(1, len(sides)))
        # toRGB at every resolution: a linear 1x1 convolution (gain 1, as in the paper's code).
        self.to_rgb = nn.ModuleList(EqualConv2d(w, channels, 1, gain=1.0) for w in widths)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        level, alpha = self.progress()
        h = self.dense(pixel_norm(z)).view(z.shape[0], self.width0, self.base, self.base)
        h = pixel_norm(_lrelu(self.base_conv(pixel_norm(_lrelu(h)))))
        previous = h
        for j in range(1, level + 1):
            previous = h
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            for conv in self.blocks[j - 1]:
                h = pixel_norm(_lrelu(conv(h)))
        image = self.to_rgb[level](h)
        if alpha < 1:
            # Fade-in: the previous resolution's image, upsampled, blends into the new one.
            old = F.interpolate(self.to_rgb[level - 1](previous), scale_factor=2, mode="nearest")
            image = old + alpha * (image - old)
        factor = self.final_side // self.schedule.sides[level]
        if factor > 1:
            image = F.interpolate(image, scale_factor=factor, mode="nearest")
        return torch.tanh(image)


class Discriminator(_Grows):
    def __init__(self, channels: int, schedule: Schedule, final_side: int, ch: int, group_size: int):
        super().__init__(schedule, final_side)
        sides = schedule.sides
        widths = [_width(s, ch) for s in sides]
        self.group_size = group_size
        self.from_rgb = nn.ModuleList(EqualConv2d(channels, w, 1) for w in widths)
        # Block j halves the side: two 3x3 convolutions (the second to block j - 1's width), average pooling.
        self.blocks = nn.ModuleList(nn.ModuleList([EqualConv2d(widths[j], widths[j], 3),
                                                   EqualConv2d(widths[j], widths[j - 1], 3)])
                                    for j in range(1, len(sides)))
        # The last block: minibatch stddev, a 3x3 conv, a dense "4x4 convolution", then the linear score.
        self.final_conv = EqualConv2d(widths[0] + 1, widths[0], 3)
        self.dense = EqualLinear(widths[0] * sides[0] ** 2, widths[0])
        self.out = EqualLinear(widths[0], 1, gain=1.0)

    def _at(self, x: torch.Tensor, side: int) -> torch.Tensor:
        # D takes the final resolution and pools it down: this is how the paper shrinks the reals, and for
        # G's nearest-upsampled images it undoes the upsampling (up to float rounding).
        factor = self.final_side // side
        return F.avg_pool2d(x, factor) if factor > 1 else x

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        level, alpha = self.progress()
        sides = self.schedule.sides
        h = _lrelu(self.from_rgb[level](self._at(x, sides[level])))
        for j in range(level, 0, -1):
            for conv in self.blocks[j - 1]:
                h = _lrelu(conv(h))
            h = F.avg_pool2d(h, 2)
            if j == level and alpha < 1:
                # Fade-in: the previous resolution's fromRGB path (on the input pooled once more) blends in.
                old = _lrelu(self.from_rgb[level - 1](self._at(x, sides[level - 1])))
                h = old + alpha * (h - old)
        h = _lrelu(self.final_conv(minibatch_stddev(h, self.group_size)))
        return _lrelu(self.dense(h.flatten(1)))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.features(x)).view(-1)


class ProGAN(Architecture):
    """Progressive GAN (Karras, Aila, Laine & Lehtinen, 2018, "Progressive Growing of GANs").

    Paper: ICLR 2018. Kept from the paper: G and D grow together from a low resolution, one doubling
    at a time, each new block faded in linearly over ``progan_fade_kimg`` thousand images (its
    weight alpha from 0 to 1) and then trained alone for ``progan_stable_kimg``; the first resolution
    trains ``progan_stable_kimg``, the last one until the run ends (section 2, figure 2). G: the
    pixel-normalised latent, a dense layer to the first side (the paper's 4x4 convolution of the 1x1
    latent) and a 3x3 convolution, then per doubling nearest upsampling and two 3x3 convolutions,
    LeakyReLU(0.2) and pixelwise feature normalisation after every convolution (section 4.2,
    epsilon 1e-8), a linear 1x1 toRGB per resolution. D mirrors it: a 1x1 fromRGB per resolution,
    two 3x3 convolutions and 2x average pooling per halving, then the minibatch standard-deviation
    feature map (section 3, groups of 4), a 3x3 convolution, a dense layer and a linear score.
    Equalised learning rate (section 4.1) everywhere: weights stored N(0, 1), biases 0, scaled at
    run time by He's constant sqrt(2 / fan_in) (gain 1 for toRGB and D's score, as in the paper's
    code). Widths are ``progan_ch`` up to 32 px and halve per doubling above, as in table 2.
    Training (section A.1 and the paper's code): Adam lr 0.001 for G and D, betas (0, 0.99), one D
    step per G step, the WGAN-GP loss (lambda 10), a separate plugin: pick ``--loss wgan_gp``.

    How it meets ganbench's fixed shapes: G always returns images at the data's side (it generates
    at the current resolution, blends the upsampled previous toRGB output in during a fade-in, then
    upsamples to the full side, nearest), and D always takes the full side and average-pools it down
    to the current resolution before its fromRGB (what the paper does to the reals; for G's images it
    undoes the upsampling). Metrics, sample grids and techniques see full-size images in every phase.
    The phase is a pure function of the images shown (``set_progress``, called by the trainer before
    every step and evaluation; kept in a buffer of G and D), so a run resumed in the middle of a
    fade-in continues bit-identically, and ``best.pt``'s generator keeps the phase it was saved in.

    Departures:
    * Schedule scaled for a CPU: ``progan_stable_kimg`` = ``progan_fade_kimg`` = 6 instead of the
      paper's 600, so that 7 -> 14 -> 28 px on MNIST (two doublings) has faded in by 24 kimg
      (measured on one thread of a 2-core CPU shared with other jobs: 24 kimg in 140 s of training,
      40 kimg in 460 s, 28 px steps being about 10 times the cost of 7 px ones). A kimg
      budget shorter than that is refused when the matrix is expanded; a run of another budget that
      stops earlier warns on stderr. ``progan_start_side`` 0 starts from the smallest side the data's
      halves to (7 for 28 px; 4 for 32 px: 4 -> 8 -> 16 -> 32, faded in by 36 kimg).
    * Widths and latent: ``progan_ch`` 16 and z_dim 32 instead of 512 (at 28 px a step costs about
      4 times a 32-wide one); batch 64 at every resolution (the paper's shrinks as the resolution
      grows, to 16 at 1024 px).
    * The reals are not blended across two resolutions during a fade-in (section 2 does): D pools
      every input, real or fake alike, to the current resolution; only D's fromRGB paths blend.
    * The drift term (epsilon_drift 0.001 times D's squared score on reals) of the paper's WGAN-GP is
      not in the ``wgan_gp`` loss plugin, and ``--loss wgan_gp`` brings its own defaults (Gulrajani
      et al.'s lr 1e-4, betas (0, 0.9), 5 critic steps), which replace these: for the paper's values add
      ``--hparam lr_g=0.001 --hparam lr_d=0.001 --hparam beta2=0.99 --hparam n_critic=1``.
    * Adam's moments are kept when a resolution is added (the paper's code resets them); layers of
      resolutions not yet in use get no gradient, so Adam leaves them untouched until they are.
    * tanh on G's output, for ganbench's [-1, 1] contract (the paper's output is linear); no EMA of G
      built in (the paper evaluates one with decay 0.999: add ``--technique ema``).
    * G's first dense layer takes He's gain sqrt(2), as the paper's text says; its code uses
      sqrt(2)/4 there (matching a Theano 4x4 convolution of the 1x1 latent).
    """

    name = "progan"
    paper = ("Karras, T., Aila, T., Laine, S. & Lehtinen, J. (2018). Progressive Growing of GANs for "
             "Improved Quality, Stability, and Variation. ICLR 2018.")
    conditional = False
    discriminator_features = True
    discriminator_minibatch_layer = True   # minibatch standard deviation before D's last block
    follows_progress = True                # set_progress: which resolution trains, and the fade-in's alpha
    defaults = {
        "batch_size": 64, "z_dim": 32, "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.0, "beta2": 0.99,
        "n_critic": 1, "progan_ch": 16, "progan_start_side": 0, "progan_stable_kimg": 6.0,
        "progan_fade_kimg": 6.0, "progan_group_size": 4,
    }
    hparam_docs = {
        "progan_ch": "channels of G's and D's blocks up to 32 px (512 in the paper), halved per doubling above",
        "progan_start_side": "the side training starts at (the data's side halved k times); 0: the smallest, "
                             "4 or 7 px",
        "progan_stable_kimg": "thousands of images each resolution trains alone before the next fades in "
                              "(600 in the paper); the last trains until the run ends",
        "progan_fade_kimg": "thousands of images over which a new resolution fades in, alpha 0 to 1 (600 in "
                            "the paper)",
        "progan_group_size": "samples per group of D's minibatch standard deviation (4 in the paper)",
    }
    hparam_limits = {
        "progan_ch": {"low": 1},
        "progan_start_side": {"low": 0},
        "progan_stable_kimg": {"low": 0},
        "progan_fade_kimg": {"low": 0},
        "progan_group_size": {"low": 1},
    }

    @classmethod
    def supports(cls, data: DataInfo) -> str | None:
        if not data.is_image or len(data.shape) != 3:
            return f"{cls.name} needs (C, H, W) images"
        _, height, width = data.shape
        if height != width or _base(height) is None:
            return (f"{cls.name} grows from 4 or 7 px by doublings: it needs square images of side 4 x 2^k "
                    f"or 7 x 2^k (28, 32, 64 ...), not {height}x{width}")
        return None

    @classmethod
    def schedule(cls, data: DataInfo, hparams: Mapping[str, Any]) -> Schedule:
        """The run's resolutions and phase lengths; ValueError when ``progan_start_side`` does not fit ``data``."""
        side = data.shape[-1]
        base = _base(side)
        start = int(hparams["progan_start_side"]) or base
        sides = [side]
        while sides[0] > base and sides[0] > start:
            sides.insert(0, sides[0] // 2)
        if sides[0] != start:
            fits = ", ".join(str(side >> k) for k in range(int(math.log2(side // base)) + 1))
            raise ValueError(f"progan_start_side {start} is not a side {side} px images halve to ({fits}, or 0)")
        return Schedule(tuple(sides), round(float(hparams["progan_stable_kimg"]) * 1000),
                        round(float(hparams["progan_fade_kimg"]) * 1000))

    @classmethod
    def images_until_final(cls, data: DataInfo, hparams: Mapping[str, Any]) -> int:
        return cls.schedule(data, hparams).final_images

    def set_progress(self, generator: nn.Module, discriminator: nn.Module, images_shown: int) -> None:
        # The networks may be wrapped by techniques (PacGAN, several discriminators): set every one of ours.
        for net in (generator, discriminator):
            for module in net.modules():
                if isinstance(module, _Grows):
                    module.images_shown.fill_(int(images_shown))

    def build(self, data: DataInfo, hparams: Mapping[str, Any]) -> tuple[nn.Module, nn.Module]:
        h = hparams  # the run's resolved hyperparameters: the core has applied the defaults
        channels, side, _ = data.shape
        schedule = self.schedule(data, h)
        G = Generator(int(h["z_dim"]), channels, schedule, side, int(h["progan_ch"]))
        D = Discriminator(channels, schedule, side, int(h["progan_ch"]), int(h["progan_group_size"]))
        return G, D


@hookimpl
def ganbench_register_architectures(registry):
    registry.add(ProGAN)
