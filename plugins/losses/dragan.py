"""DRAGAN: the non-saturating GAN loss plus a gradient penalty around perturbed real data."""

from __future__ import annotations

import torch

from ganbench import hookimpl
from ganbench.penalties import one_centred_penalty
from ganbench_plugins.losses.nonsaturating import NonSaturating


class DRAGAN(NonSaturating):
    """DRAGAN: non-saturating loss plus lambda * E[(||grad D(x_hat)|| - 1)^2] near the real data.

    Kodali, Abernethy, Hays and Kira (2017), "On Convergence and Stability of GANs". The penalty
    keeps D's gradients in check only in a neighbourhood of the data, which the paper argues
    prevents the sharp local optima behind mode collapse. The neighbourhood follows the authors'
    released code rather than the paper's Gaussian: x_p = x + c * std(x) * u with u ~ U[0, 1)
    elementwise and c = 0.5, then x_hat = x + a * (x_p - x) with one a ~ U[0, 1) per sample;
    lambda = 10 as in the paper.
    """

    name = "dragan"
    double_backward = True  # the penalty differentiates D's input gradient
    paper = ("Kodali, Abernethy, Hays, Kira (2017). On Convergence and Stability of GANs. "
             "arXiv:1705.07215.")
    defaults = {"gp_lambda": 10.0, "dragan_c": 0.5}
    hparam_docs = {
        "gp_lambda": "weight of the gradient penalty around the real data (10 in the paper)",
        "dragan_c": "size of the perturbation neighbourhood, in units of the data's standard deviation",
    }
    hparam_limits = {
        "gp_lambda": {"low": 0},
        "dragan_c": {"low": 0},
    }

    def penalty(self, discriminator, real, fake, labels, rng):
        lam = float(self.hparams["gp_lambda"])
        c = float(self.hparams["dragan_c"])
        x = real.detach()
        noise = torch.rand(x.shape, generator=rng, device=x.device, dtype=x.dtype)
        alpha = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), generator=rng, device=x.device, dtype=x.dtype)
        return one_centred_penalty(discriminator, x + alpha * (c * x.std() * noise), labels, lam)


@hookimpl
def ganbench_register_losses(registry):
    registry.add(DRAGAN)
