"""The non-saturating GAN loss with the R1 gradient penalty on real data."""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.penalties import score_gradients
from ganbench_plugins.losses.nonsaturating import NonSaturating


class R1(NonSaturating):
    """R1-regularised GAN: non-saturating loss plus (gamma / 2) * E[||grad D(x_real)||^2].

    Mescheder, Geiger and Nowozin (2018), "Which Training Methods for GANs do actually Converge?".
    Penalising D's gradient on real data only (zero-centred, unlike WGAN-GP's one-centred penalty
    on interpolates) makes the Dirac-GAN analysis locally convergent; gamma = 10 is the value the
    paper uses for most of its experiments. Needs no randomness of its own.
    """

    name = "r1"
    double_backward = True  # the penalty differentiates D's input gradient
    paper = ("Mescheder, Geiger, Nowozin (2018). Which Training Methods for GANs do actually Converge? "
             "ICML 2018.")
    defaults = {"r1_gamma": 10.0}
    hparam_docs = {
        "r1_gamma": "weight gamma of the R1 penalty (gamma / 2) * E||grad D(x_real)||^2",
    }
    hparam_limits = {
        "r1_gamma": {"low": 0},
    }

    def penalty(self, discriminator, real, fake, labels, rng):
        gamma = float(self.hparams["r1_gamma"])
        return 0.5 * gamma * score_gradients(discriminator, real, labels).pow(2).sum(dim=1).mean()


@hookimpl
def ganbench_register_losses(registry):
    registry.add(R1)
