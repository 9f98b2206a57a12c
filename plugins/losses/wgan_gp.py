"""The Wasserstein GAN objective with a gradient penalty on real-fake interpolates."""

from __future__ import annotations

import torch

from ganbench import hookimpl
from ganbench.api import Loss
from ganbench.penalties import one_centred_penalty


class WGANGP(Loss):
    """WGAN-GP: the WGAN critic loss plus lambda * E[(||grad D(x_hat)|| - 1)^2] on interpolates.

    Gulrajani, Ahmed, Arjovsky, Dumoulin and Courville (2017), "Improved Training of Wasserstein
    GANs". x_hat = a * x_real + (1 - a) * x_fake with one a ~ U[0, 1] per sample. Algorithm 1 uses
    lambda = 10, five critic updates per generator update and Adam with lr 1e-4, betas (0, 0.9).
    The paper warns against batch normalisation in the critic: the penalty is per sample.
    """

    vectorizable_seeds = True

    name = "wgan_gp"
    double_backward = True  # the penalty differentiates D's input gradient
    paper = ("Gulrajani, Ahmed, Arjovsky, Dumoulin, Courville (2017). Improved Training of Wasserstein "
             "GANs. NeurIPS 2017.")
    defaults = {"n_critic": 5, "gp_lambda": 10.0, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9}
    hparam_docs = {
        "gp_lambda": "weight of the gradient penalty on interpolates (10 in the paper)",
    }
    hparam_limits = {
        "gp_lambda": {"low": 0},
    }

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return fake_scores.mean() - real_scores.mean()

    def generator_loss(self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None) -> torch.Tensor:
        return -fake_scores.mean()

    def penalty(self, discriminator, real, fake, labels, rng):
        lam = float(self.hparams["gp_lambda"])
        real, fake = real.detach(), fake.detach()
        if real.shape != fake.shape:
            # Interpolates pair samples one to one; broadcasting would silently pair the wrong ones.
            raise ValueError(f"wgan_gp interpolates real and fake samples pairwise; got shapes "
                             f"{tuple(real.shape)} and {tuple(fake.shape)}")
        alpha = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=rng, device=real.device,
                           dtype=real.dtype)
        return one_centred_penalty(discriminator, alpha * real + (1 - alpha) * fake, labels, lam)


@hookimpl
def ganbench_register_losses(registry):
    registry.add(WGANGP)
