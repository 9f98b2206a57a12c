"""The hinge GAN objective."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganbench import hookimpl
from ganbench.api import Loss


class Hinge(Loss):
    """Hinge GAN: D minimises E[relu(1 - D(x))] + E[relu(1 + D(G(z)))], G minimises -E[D(G(z))].

    Lim and Ye (2017), "Geometric GAN" (a margin-based, SVM-like discriminator); in this form it
    was popularised by Miyato, Kataoka, Koyama and Yoshida (2018), "Spectral Normalization for
    Generative Adversarial Networks", and is the loss of SNGAN, SAGAN and BigGAN. Scores beyond the
    margin no longer move D, so the critic does not push already-separated samples further apart.
    """

    vectorizable_seeds = True

    name = "hinge"
    tasks = ("generation", "super_resolution", "paired_translation", "unpaired_translation", "text")   # any task with a D
    paper = ("Lim, Ye (2017). Geometric GAN. arXiv:1705.02894. "
             "Miyato, Kataoka, Koyama, Yoshida (2018). Spectral Normalization for Generative "
             "Adversarial Networks. ICLR 2018.")

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()

    def generator_loss(self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None) -> torch.Tensor:
        return -fake_scores.mean()


@hookimpl
def ganbench_register_losses(registry):
    registry.add(Hinge)
