"""Technique plugin: differentiable augmentation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganbench import hookimpl
from ganbench.api import Technique

POLICIES = ("color", "translation", "cutout")


class DiffAugment(Technique):
    """DiffAugment: random colour, translation and cutout on every discriminator input, differentiably.

    Zhao, Liu, Lin, Zhu and Han (2020), "Differentiable Augmentation for Data-Efficient GAN Training",
    NeurIPS. Reals and fakes get the same kind of augmentation, in the discriminator steps and in the
    generator step, so D cannot memorise the (small) training set while the generator still receives
    gradients through the augmentation. Policy ``color,translation,cutout`` as in the paper:

    * color: per sample, brightness ``+ U(-0.5, 0.5)``, saturation ``x U(0, 2)`` around the pixel's
      channel mean, contrast ``x U(0.5, 1.5)`` around the image mean (on [-1, 1] data);
    * translation: integer shifts of up to 1/8 of the height and width, zero-filled;
    * cutout: a zeroed square of half the height and width, at a random position (clipped at borders).

    Every random number comes from the technique stream ``ctx.rng``. Images only: the operations
    have no meaning for 2D points.
    """

    name = "diffaugment"
    paper = ("Zhao, Liu, Lin, Zhu, Han (2020). Differentiable Augmentation for Data-Efficient GAN "
             "Training. NeurIPS.")
    defaults = {"diffaugment_policy": "color,translation,cutout",
                "diffaugment_translation": 0.125, "diffaugment_cutout": 0.5}
    hparam_docs = {
        "diffaugment_policy": "comma-separated augmentations applied in order: color, translation, cutout",
        "diffaugment_translation": "largest shift, as a fraction of the height and width (1/8 in the paper)",
        "diffaugment_cutout": "side of the cutout square, as a fraction of the height and width",
    }
    hparam_limits = {
        "diffaugment_translation": {"low": 0, "high": 1},
        "diffaugment_cutout": {"low": 0, "high": 1},
    }

    @classmethod
    def supports(cls, architecture, loss, data):
        if not data.is_image:
            return "colour, translation and cutout need images"
        return None

    def __init__(self, hparams):
        super().__init__(hparams)
        self.policy = [p.strip() for p in str(self.hparams["diffaugment_policy"]).split(",") if p.strip()]
        unknown = set(self.policy) - set(POLICIES)
        if unknown:
            raise ValueError(f"diffaugment_policy: unknown {sorted(unknown)}; valid: {', '.join(POLICIES)}")

    def discriminator_input(self, x, ctx):
        for op in self.policy:
            if op == "color":
                x = colour(x, ctx.rng)
            elif op == "translation":
                x = translate(x, float(self.hparams["diffaugment_translation"]), ctx.rng)
            else:
                x = cutout(x, float(self.hparams["diffaugment_cutout"]), ctx.rng)
        return x


def _uniform(n: int, gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(n, 1, 1, 1, generator=gen, device=gen.device).to(like.device, like.dtype)


def colour(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    B = x.shape[0]
    x = x + (_uniform(B, gen, x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform(B, gen, x) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(B, gen, x) + 0.5) + mean


def _offsets(B: int, limit: int, gen: torch.Generator, device) -> torch.Tensor:
    return torch.randint(-limit, limit + 1, (B, 1, 1), generator=gen, device=gen.device).to(device)


def translate(x: torch.Tensor, ratio: float, gen: torch.Generator) -> torch.Tensor:
    B, C, H, W = x.shape
    dy = _offsets(B, int(H * ratio + 0.5), gen, x.device)
    dx = _offsets(B, int(W * ratio + 0.5), gen, x.device)
    # Indices into a one-pixel zero border: anything shifted in from outside reads the border.
    rows = (torch.arange(H, device=x.device).view(1, H, 1) + dy + 1).clamp(0, H + 1).expand(B, H, W)
    cols = (torch.arange(W, device=x.device).view(1, 1, W) + dx + 1).clamp(0, W + 1).expand(B, H, W)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)                  # [B, H+2, W+2, C]
    batch = torch.arange(B, device=x.device).view(B, 1, 1).expand(B, H, W)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float, gen: torch.Generator) -> torch.Tensor:
    B, C, H, W = x.shape
    h, w = int(H * ratio + 0.5), int(W * ratio + 0.5)
    # Centres range over the whole image, so the square may hang over an edge, as in the paper.
    top = torch.randint(0, H + 1, (B, 1, 1), generator=gen, device=gen.device).to(x.device) - h // 2
    left = torch.randint(0, W + 1, (B, 1, 1), generator=gen, device=gen.device).to(x.device) - w // 2
    rows = torch.arange(H, device=x.device).view(1, H, 1)
    cols = torch.arange(W, device=x.device).view(1, 1, W)
    inside = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)
    return x * (~inside).unsqueeze(1).to(x.dtype)


@hookimpl
def ganbench_register_techniques(registry):
    registry.add(DiffAugment)
