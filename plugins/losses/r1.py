"""The non-saturating GAN loss with the R1 gradient penalty on real data."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganbench import hookimpl
from ganbench.api import Loss


class R1(Loss):
    """R1-regularised GAN: non-saturating loss plus (gamma / 2) * E[||grad D(x_real)||^2].

    Mescheder, Geiger and Nowozin (2018), "Which Training Methods for GANs do actually Converge?".
    Penalising D's gradient on real data only (zero-centred, unlike WGAN-GP's one-centred penalty
    on interpolates) makes the Dirac-GAN analysis locally convergent; gamma = 10 is the value the
    paper uses for most of its experiments. Needs no randomness of its own.
    """

    name = "r1"
    paper = ("Mescheder, Geiger, Nowozin (2018). Which Training Methods for GANs do actually Converge? "
             "ICML 2018.")
    defaults = {"r1_gamma": 10.0}
    accepts_label_smoothing = True

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        # One-sided label smoothing (Salimans et al. 2016) moves only the real target.
        real_label = float(self.hparams.get("real_label", 1.0))
        real_term = F.binary_cross_entropy_with_logits(real_scores, torch.full_like(real_scores, real_label))
        return real_term + F.softplus(fake_scores).mean()

    def generator_loss(self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None) -> torch.Tensor:
        return F.softplus(-fake_scores).mean()

    def penalty(self, discriminator, real, fake, labels):
        gamma = float(self.hparams.get("r1_gamma", self.defaults["r1_gamma"]))
        x = real.detach().requires_grad_(True)
        scores = discriminator(x, labels).reshape(-1)
        (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
        return 0.5 * gamma * grad.reshape(grad.shape[0], -1).pow(2).sum(dim=1).mean()


@hookimpl
def ganbench_register_losses(registry):
    registry.add(R1)
