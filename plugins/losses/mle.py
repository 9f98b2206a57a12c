"""Maximum likelihood alone: the baseline SeqGAN is compared with, a generator trained without a D."""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.api import Loss


class MaximumLikelihood(Loss):
    """Maximum likelihood (teacher forcing) only: no discriminator, no adversarial game.

    The MLE baseline of Yu, Zhang, Wang and Yu (2017), "SeqGAN: Sequence Generative Adversarial Nets
    with Policy Gradient" (AAAI 2017), section 5: the same generator, trained on the real sequences by
    maximum likelihood for every step of the budget, where SeqGAN switches to its policy gradient
    after its pre-training. Declares ``adversarial = False``: the trainer never updates D, and every
    generator update is the task's likelihood objective. Serves tasks whose generator has a likelihood.
    """

    name = "mle"
    paper = ("Yu, L., Zhang, W., Wang, J. and Yu, Y. (2017). SeqGAN: Sequence Generative Adversarial Nets "
             "with Policy Gradient. AAAI 2017 (the MLE baseline, section 5).")
    tasks = ("text",)
    adversarial = False


@hookimpl
def ganbench_register_losses(registry):
    registry.add(MaximumLikelihood)
