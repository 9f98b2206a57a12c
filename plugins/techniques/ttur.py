"""Technique plugin: the two time-scale update rule."""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.api import Technique


class TTUR(Technique):
    """Two time-scale update rule: discriminator lr 4e-4, generator lr 1e-4 (Heusel et al. 2017).

    Heusel, Ramsauer, Unterthiner, Nessler and Hochreiter (2017), "GANs Trained by a Two Time-Scale
    Update Rule Converge to a Local Nash Equilibrium". A discriminator that learns faster than the
    generator tracks it closely enough for the pair to converge to a local Nash equilibrium.
    4e-4 / 1e-4 is the pairing of the paper's experiments (later adopted by SAGAN and BigGAN).

    Only hyperparameters change: the trainer builds both optimisers from ``lr_d`` and ``lr_g``.
    """

    name = "ttur"
    discrete_samples = True  # never touches what D sees nor replaces the generator loss (token data)
    paper = ("Heusel, Ramsauer, Unterthiner, Nessler, Hochreiter (2017). GANs Trained by a Two "
             "Time-Scale Update Rule Converge to a Local Nash Equilibrium. NeurIPS.")
    encoder_compatible = True  # only sets the two learning rates
    defaults = {"lr_d": 4e-4, "lr_g": 1e-4}
    hparam_docs = {
        "lr_d": "the discriminator's learning rate, the faster time scale (4e-4)",
        "lr_g": "the generator's learning rate, the slower time scale (1e-4)",
    }


@hookimpl
def ganbench_register_techniques(registry):
    registry.add(TTUR)
