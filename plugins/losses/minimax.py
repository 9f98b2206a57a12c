"""The original minimax GAN objective, with the saturating generator loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganbench import hookimpl
from ganbench_plugins.losses.nonsaturating import NonSaturating


class Minimax(NonSaturating):
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
    # The discriminator loss is the non-saturating variant's: the two differ only in G's objective.

    def generator_loss(self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None) -> torch.Tensor:
        return -F.softplus(fake_scores).mean()


@hookimpl
def ganbench_register_losses(registry):
    registry.add(Minimax)
