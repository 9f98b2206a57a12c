"""The relativistic standard GAN objective (RSGAN)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganbench import hookimpl
from ganbench.api import Loss


def _paired(real_scores: torch.Tensor, fake_scores: torch.Tensor | None) -> None:
    # Pairs are compared element by element; [B] against [B, 1] would broadcast to [B, B] silently.
    if fake_scores is None or real_scores is None:
        raise ValueError("rsgan compares each fake with a real sample: both score tensors are required")
    if real_scores.shape != fake_scores.shape:
        raise ValueError(f"rsgan pairs real and fake scores one to one; got shapes "
                         f"{tuple(real_scores.shape)} and {tuple(fake_scores.shape)}")


class RSGAN(Loss):
    """Relativistic standard GAN: D estimates how likely a real sample is more realistic than a fake.

    Jolicoeur-Martineau (2019), "The relativistic discriminator: a key element missing from
    standard GAN". With C the critic's raw score and pairs (x_r, x_f):
    L_D = -E[log sigmoid(C(x_r) - C(x_f))] and L_G = -E[log sigmoid(C(x_f) - C(x_r))], so the
    generator step also needs real samples. Written with softplus, which stays finite for any
    score gap. One-sided label smoothing is not offered: no target belongs to real samples alone.
    """

    vectorizable_seeds = True

    name = "rsgan"
    paper = ("Jolicoeur-Martineau (2019). The relativistic discriminator: a key element missing from "
             "standard GAN. ICLR 2019.")
    needs_real_for_generator = True

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        _paired(real_scores, fake_scores)
        return F.softplus(fake_scores - real_scores).mean()

    def generator_loss(self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None) -> torch.Tensor:
        _paired(real_scores, fake_scores)
        return F.softplus(real_scores - fake_scores).mean()


@hookimpl
def ganbench_register_losses(registry):
    registry.add(RSGAN)
