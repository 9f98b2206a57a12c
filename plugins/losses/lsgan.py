"""The least-squares GAN objective."""

from __future__ import annotations

import torch

from ganbench import hookimpl
from ganbench.api import Loss


class LSGAN(Loss):
    """Least-squares GAN: D regresses reals to b and fakes to a; G pulls its fakes' scores to c.

    Mao, Li, Xie, Lau, Wang and Smolley (2017), "Least Squares Generative Adversarial Networks".
    With the 0-1-1 coding used here (a = 0, b = 1, c = 1, the paper's equation 9) the loss
    penalises samples that are classified correctly but lie far from the decision boundary, so
    the generator keeps receiving gradient. Scores are used raw (no sigmoid), as in the paper.
    """

    vectorizable_seeds = True

    name = "lsgan"
    tasks = ("generation", "super_resolution", "paired_translation", "unpaired_translation", "text")   # any task with a D
    paper = ("Mao, Li, Xie, Lau, Wang, Smolley (2017). Least Squares Generative Adversarial Networks. "
             "ICCV 2017.")
    defaults = {"lsgan_a": 0.0, "lsgan_b": 1.0, "lsgan_c": 1.0}
    hparam_docs = {
        "lsgan_a": "the target D regresses fake scores to",
        "lsgan_b": "the target D regresses real scores to",
        "lsgan_c": "the target G pulls its fakes' scores to",
    }

    def _coding(self, key: str) -> float:
        return float(self.hparams[key])

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        a, b = self._coding("lsgan_a"), self._coding("lsgan_b")
        return 0.5 * ((real_scores - b) ** 2).mean() + 0.5 * ((fake_scores - a) ** 2).mean()

    def generator_loss(self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None) -> torch.Tensor:
        c = self._coding("lsgan_c")
        return 0.5 * ((fake_scores - c) ** 2).mean()


@hookimpl
def ganbench_register_losses(registry):
    registry.add(LSGAN)
