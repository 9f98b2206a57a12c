"""The original minimax GAN objective, with the saturating generator loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganbench import hookimpl
from ganbench.api import Loss


class Minimax(Loss):
    """Minimax GAN: D maximises log D(x) + log(1 - D(G(z))), G minimises log(1 - D(G(z))).

    Goodfellow, Pouget-Abadie, Mirza, Xu, Warde-Farley, Ozair, Courville and Bengio (2014),
    "Generative Adversarial Nets". The generator term saturates when D confidently rejects fakes
    (its gradient vanishes), which is why the paper itself recommends the non-saturating variant;
    it is kept as the baseline the other objectives are measured against.

    Scores are logits, so log D = -softplus(-s) and log(1 - D) = -softplus(s): no sigmoid is ever
    materialised, and large logits stay finite.
    """

    name = "minimax"
    paper = ("Goodfellow, Pouget-Abadie, Mirza, Xu, Warde-Farley, Ozair, Courville, Bengio (2014). "
             "Generative Adversarial Nets. NeurIPS 2014.")
    accepts_label_smoothing = True

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        # One-sided label smoothing (Salimans et al. 2016) moves only the real target.
        real_label = float(self.hparams.get("real_label", 1.0))
        real_term = F.binary_cross_entropy_with_logits(real_scores, torch.full_like(real_scores, real_label))
        return real_term + F.softplus(fake_scores).mean()

    def generator_loss(self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None) -> torch.Tensor:
        return -F.softplus(fake_scores).mean()


@hookimpl
def ganbench_register_losses(registry):
    registry.add(Minimax)
