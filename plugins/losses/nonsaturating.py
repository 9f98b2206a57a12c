"""The non-saturating GAN objective: the standard binary cross-entropy GAN loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganbench import hookimpl
from ganbench.api import Loss


class NonSaturating(Loss):
    """Non-saturating GAN: D as in the minimax game, G maximises log D(G(z)) instead.

    Goodfellow, Pouget-Abadie, Mirza, Xu, Warde-Farley, Ozair, Courville and Bengio (2014),
    "Generative Adversarial Nets" (section 3 proposes this generator loss because log(1 - D(G(z)))
    saturates early in training). It has the same fixed point as the minimax game but strong
    gradients exactly when the generator is losing.
    """

    vectorizable_seeds = True

    name = "nonsaturating"
    tasks = ("generation", "super_resolution", "paired_translation", "unpaired_translation", "text")   # any task with a D
    paper = ("Goodfellow, Pouget-Abadie, Mirza, Xu, Warde-Farley, Ozair, Courville, Bengio (2014). "
             "Generative Adversarial Nets. NeurIPS 2014.")
    accepts_label_smoothing = True

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        # One-sided label smoothing (Salimans et al. 2016) moves only the real target.
        real_label = float(self.hparams.get("real_label", 1.0))
        real_term = F.binary_cross_entropy_with_logits(real_scores, torch.full_like(real_scores, real_label))
        return real_term + F.softplus(fake_scores).mean()

    def generator_loss(self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None) -> torch.Tensor:
        return F.softplus(-fake_scores).mean()


@hookimpl
def ganbench_register_losses(registry):
    registry.add(NonSaturating)
