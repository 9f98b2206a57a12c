"""The relativistic average standard GAN objective (RaSGAN)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganbench import hookimpl
from ganbench.api import Loss


class RaGAN(Loss):
    """Relativistic average GAN (RaSGAN): each sample is judged against the mean score of the other kind.

    Jolicoeur-Martineau (2019), "The relativistic discriminator: a key element missing from
    standard GAN". With C the raw score, D_ra(x_r) = sigmoid(C(x_r) - E[C(x_f)]) and
    D_ra(x_f) = sigmoid(C(x_f) - E[C(x_r)]); L_D = -E[log D_ra(x_r)] - E[log(1 - D_ra(x_f))] and
    the generator loss swaps the roles, so it needs real samples and sends gradient through both
    terms. Unlike RSGAN, batches of reals and fakes need not be paired.
    """

    vectorizable_seeds = True

    name = "ragan"
    paper = ("Jolicoeur-Martineau (2019). The relativistic discriminator: a key element missing from "
             "standard GAN. ICLR 2019.")
    needs_real_for_generator = True

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        real_rel = real_scores - fake_scores.mean()
        fake_rel = fake_scores - real_scores.mean()
        return F.softplus(-real_rel).mean() + F.softplus(fake_rel).mean()

    def generator_loss(self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None) -> torch.Tensor:
        if real_scores is None:
            raise ValueError("ragan's generator loss compares fakes with reals: real_scores is required")
        real_rel = real_scores - fake_scores.mean()
        fake_rel = fake_scores - real_scores.mean()
        return F.softplus(real_rel).mean() + F.softplus(-fake_rel).mean()


@hookimpl
def ganbench_register_losses(registry):
    registry.add(RaGAN)
