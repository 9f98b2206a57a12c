"""DRAGAN: the non-saturating GAN loss plus a gradient penalty around perturbed real data."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganbench import hookimpl
from ganbench.api import Loss


class DRAGAN(Loss):
    """DRAGAN: non-saturating loss plus lambda * E[(||grad D(x_hat)|| - 1)^2] near the real data.

    Kodali, Abernethy, Hays and Kira (2017), "On Convergence and Stability of GANs". The penalty
    keeps D's gradients in check only in a neighbourhood of the data, which the paper argues
    prevents the sharp local optima behind mode collapse. The neighbourhood follows the authors'
    released code rather than the paper's Gaussian: x_p = x + c * std(x) * u with u ~ U[0, 1)
    elementwise and c = 0.5, then x_hat = x + a * (x_p - x) with one a ~ U[0, 1) per sample;
    lambda = 10 as in the paper.
    """

    name = "dragan"
    paper = ("Kodali, Abernethy, Hays, Kira (2017). On Convergence and Stability of GANs. "
             "arXiv:1705.07215.")
    defaults = {"gp_lambda": 10.0, "dragan_c": 0.5}
    accepts_label_smoothing = True

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        # One-sided label smoothing (Salimans et al. 2016) moves only the real target.
        real_label = float(self.hparams.get("real_label", 1.0))
        real_term = F.binary_cross_entropy_with_logits(real_scores, torch.full_like(real_scores, real_label))
        return real_term + F.softplus(fake_scores).mean()

    def generator_loss(self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None) -> torch.Tensor:
        return F.softplus(-fake_scores).mean()

    def penalty(self, discriminator, real, fake, labels):
        lam = float(self.hparams.get("gp_lambda", self.defaults["gp_lambda"]))
        c = float(self.hparams.get("dragan_c", self.defaults["dragan_c"]))
        x = real.detach()
        # Global RNG of the data's device (the API has no generator argument); the trainer
        # checkpoints it, so a resumed run draws the same perturbations.
        noise = torch.rand(x.shape, device=x.device, dtype=x.dtype)
        alpha = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device, dtype=x.dtype)
        x_hat = (x + alpha * (c * x.std() * noise)).requires_grad_(True)
        scores = discriminator(x_hat, labels).reshape(-1)
        (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
        norms = grad.reshape(grad.shape[0], -1).norm(2, dim=1)
        return lam * ((norms - 1) ** 2).mean()


@hookimpl
def ganbench_register_losses(registry):
    registry.add(DRAGAN)
