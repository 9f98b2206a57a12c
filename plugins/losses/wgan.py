"""The Wasserstein GAN objective with weight clipping."""

from __future__ import annotations

import torch

from ganbench import hookimpl
from ganbench.api import Loss


class WGAN(Loss):
    """Wasserstein GAN: a critic estimates the Earth-Mover distance; weights clipped to [-c, c].

    Arjovsky, Chintala and Bottou (2017), "Wasserstein Generative Adversarial Networks". The critic
    maximises E[D(x)] - E[D(G(z))], the generator maximises E[D(G(z))]. Clipping every critic
    parameter after each update is the paper's crude way of keeping D (roughly) K-Lipschitz.
    Algorithm 1 pairs it with RMSprop (momentum-based optimisers were found unstable), learning
    rate 5e-5, c = 0.01 and five critic updates per generator update.
    """

    vectorizable_seeds = True

    name = "wgan"
    paper = ("Arjovsky, Chintala, Bottou (2017). Wasserstein Generative Adversarial Networks. "
             "ICML 2017.")
    defaults = {"n_critic": 5, "lr_g": 5e-5, "lr_d": 5e-5, "clip": 0.01}
    hparam_docs = {
        "clip": "critic weights are clipped to [-clip, clip] after every update (0.01 in the paper)",
    }
    hparam_limits = {
        "clip": {"low": 0, "low_open": True},
    }

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return fake_scores.mean() - real_scores.mean()

    def generator_loss(self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None) -> torch.Tensor:
        return -fake_scores.mean()

    def make_optimizer(self, params, lr: float, betas: tuple[float, float]):
        # The paper uses RMSprop; betas belong to Adam and have no meaning here.
        return torch.optim.RMSprop(params, lr=lr)

    @torch.no_grad()
    def after_discriminator_step(self, discriminator) -> None:
        c = float(self.hparams["clip"])
        for p in discriminator.parameters():
            p.clamp_(-c, c)


@hookimpl
def ganbench_register_losses(registry):
    registry.add(WGAN)
