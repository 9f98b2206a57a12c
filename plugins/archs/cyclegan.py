"""CycleGAN (Zhu et al., 2017): two ResNet generators (A->B, B->A) and two PatchGAN discriminators, as one
generator and one discriminator of joint two-domain samples."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from ganbench import hookimpl
from ganbench.api import Architecture, DataInfo


def _conv_norm_relu(cin: int, cout: int, kernel: int, stride: int) -> list[nn.Module]:
    pad = kernel // 2
    return [nn.Conv2d(cin, cout, kernel, stride, pad, padding_mode="reflect" if stride == 1 else "zeros"),
            nn.InstanceNorm2d(cout), nn.ReLU()]


class _Residual(nn.Module):
    """R_k: two 3x3 convolutions (reflection padding, instance norm) with the input added back."""

    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(*_conv_norm_relu(ch, ch, 3, 1), nn.Conv2d(ch, ch, 3, 1, 1, padding_mode="reflect"),
                                  nn.InstanceNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def resnet_generator(channels: int, ngf: int, blocks: int) -> nn.Sequential:
    """c7s1-ngf, d(2 ngf), R(2 ngf) x blocks, u(ngf), c7s1-channels with tanh (the paper's notation)."""
    return nn.Sequential(
        *_conv_norm_relu(channels, ngf, 7, 1),
        *_conv_norm_relu(ngf, 2 * ngf, 3, 2),
        *(_Residual(2 * ngf) for _ in range(blocks)),
        nn.ConvTranspose2d(2 * ngf, ngf, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(ngf), nn.ReLU(),
        nn.Conv2d(ngf, channels, 7, 1, 3, padding_mode="reflect"), nn.Tanh())


def patch_discriminator(channels: int, ndf: int) -> nn.Sequential:
    """C(ndf) without norm, C(2 ndf) with instance norm (4x4, stride 2, LeakyReLU 0.2), then a 3x3
    convolution to one logit per patch."""
    return nn.Sequential(nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2),
                         nn.Conv2d(ndf, 2 * ndf, 4, 2, 1), nn.InstanceNorm2d(2 * ndf), nn.LeakyReLU(0.2),
                         nn.Conv2d(2 * ndf, 1, 3, 1, 1))


def halves(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The domain-A (left) and domain-B (right) halves of joint samples ``[B, C, H, 2W]``."""
    return x.tensor_split(2, dim=-1)


class JointGenerator(nn.Module):
    """G(a | b) = (G_BA(b) | G_AB(a)): each half translated into the other domain, kept in the joint
    layout (left = domain A), so that G(G(x)) is the cycle (G_BA(G_AB(a)) | G_AB(G_BA(b)))."""

    def __init__(self, channels: int, ngf: int, blocks: int):
        super().__init__()
        self.conditional = False
        self.a_to_b = resnet_generator(channels, ngf, blocks)
        self.b_to_a = resnet_generator(channels, ngf, blocks)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        a, b = halves(x)
        return torch.cat([self.b_to_a(b), self.a_to_b(a)], dim=-1)


class JointDiscriminator(nn.Module):
    """D_A judges the left halves, D_B the right ones; the score of a joint sample is the mean of each
    discriminator's patch logits, ``[2B]``: D_A's B scores, then D_B's (each game is the loss plugin's)."""

    def __init__(self, channels: int, ndf: int):
        super().__init__()
        self.judge_a = patch_discriminator(channels, ndf)
        self.judge_b = patch_discriminator(channels, ndf)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        a, b = halves(x)
        return torch.cat([self.judge_a(a).mean(dim=(1, 2, 3)), self.judge_b(b).mean(dim=(1, 2, 3))])


class CycleGAN(Architecture):
    """CycleGAN (Zhu et al., 2017): G_AB, G_BA ResNet generators and D_A, D_B PatchGANs, on joint samples.

    Paper: ICCV 2017, section 4 and appendix 7.2. Kept: the generator (c7s1-k, two stride-2 stages,
    residual blocks, the mirrored fractionally-strided stages, c7s1 with tanh; reflection padding and
    instance normalisation), PatchGAN discriminators (4x4 stride-2 convolutions, LeakyReLU 0.2,
    instance norm except on the first, one logit per patch), Adam with lr 2e-4 and betas (0.5, 0.999).
    The cycle and identity terms (lambda 10 and 0.5 lambda) are the ``unpaired_translation`` task's,
    the adversarial game the loss plugin's (the paper's: ``--loss lsgan``).

    Both directions are one module each way so the core trains them as one G and one D: a joint
    sample holds one image of each domain side by side (``holds = "two domains"`` datasets), G
    translates each half into the other domain and D scores each half with its own domain's
    discriminator. Adam's update is per parameter, so one optimiser over both generators (both
    discriminators) is the paper's two: only the losses' shared scale differs.

    Departures, for 28 px digits on a CPU:
    * One stride-2 stage and ``cg_blocks`` = 2 residual blocks instead of two and 6-9 (128-256 px);
      ``cg_ngf`` = 8, ``cg_ndf`` = 16 channels instead of 64; D two stages (a logit sees 18 px of 28;
      the paper's 70 of 256). A step (one D update, one G update with its cycle and identity passes:
      six generator passes) took 0.44 s at batch 32 on one core of the 2-core CPU beside other jobs,
      1.9 s at 16/32 channels, 3 blocks and batch 64.
    * Batch 32 instead of 1, a constant learning rate (the paper decays it linearly over its second
      100 epochs), no buffer of 50 past fakes (``--technique experience_replay`` is ganbench's).
    """

    name = "cyclegan"
    paper = ("Zhu, J.-Y., Park, T., Isola, P. & Efros, A. A. (2017). Unpaired Image-to-Image Translation "
             "using Cycle-Consistent Adversarial Networks. ICCV 2017.")
    tasks = ("unpaired_translation",)
    generator_input = "image"
    scores_per_sample = 2   # D_A's score of the left half, D_B's of the right
    defaults = {"batch_size": 32, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "n_critic": 1,
                "cg_ngf": 8, "cg_ndf": 16, "cg_blocks": 2}
    hparam_docs = {"cg_ngf": "channels of each generator's first stage (doubled after the stride-2 stage)",
                   "cg_ndf": "channels of each PatchGAN's first stage (doubled in the second)",
                   "cg_blocks": "residual blocks of each generator"}
    hparam_limits = {"cg_ngf": {"low": 1}, "cg_ndf": {"low": 1}, "cg_blocks": {"low": 0}}

    @classmethod
    def supports(cls, data: DataInfo) -> str | None:
        if not data.is_image or len(data.shape) != 3:
            return f"{cls.name} needs images, not samples of shape {tuple(data.shape)}"
        _, height, width = data.shape
        if width != 2 * height or height % 4:
            return (f"{cls.name} needs joint two-domain samples (two H x H images side by side, H a multiple "
                    f"of 4), not {height}x{width}")
        return None

    def build(self, data: DataInfo, hparams: Mapping[str, Any]) -> tuple[nn.Module, nn.Module]:
        h = hparams  # the run's resolved hyperparameters: the core has applied the defaults
        channels = data.shape[0]
        return (JointGenerator(channels, int(h["cg_ngf"]), int(h["cg_blocks"])),
                JointDiscriminator(channels, int(h["cg_ndf"])))


@hookimpl
def ganbench_register_architectures(registry):
    registry.add(CycleGAN)
