"""Technique plugin: several discriminators (GMAN)."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import parametrize

from ganbench import hookimpl
from ganbench.api import Technique


class MultiDiscriminator(Technique):
    """Multiple discriminators: the generator faces the average opinion of K independently initialised Ds.

    Durugkar, Gemp and Mahadevan (2017), "Generative Multi-Adversarial Networks", ICLR (GMAN).

    Simplification. GMAN trains each discriminator on its own loss and trains the generator on a
    combination of the K losses (arithmetic mean, or a softmax-weighted mean with temperature lambda).
    Here the wrapped discriminator returns the mean of the K raw scores, so the loss plugin sees a
    single score per sample: the discriminators are trained jointly on the loss of their averaged
    score, and the generator faces that averaged score. This keeps the ``[B]`` contract of
    discriminators and composes with every loss and penalty, but it is an ensemble of logits rather
    than GMAN's combination of losses.

    The copies are ``deepcopy`` s of the architecture's D whose layers are re-initialised with
    ``reset_parameters`` (also through spectral-norm and other parametrizations), drawing from the
    global RNG while the trainer builds the model, i.e. from the run's ``init`` stream. Parameters a
    layer holds outside ``reset_parameters`` keep the original's values. ``features`` concatenates
    the copies' features; other attributes (``auxiliary_loss``) are the first copy's.
    """

    name = "multi_discriminator"
    paper = ("Durugkar, Gemp, Mahadevan (2017). Generative Multi-Adversarial Networks. ICLR.")
    defaults = {"num_discriminators": 2}

    def wrap_discriminator(self, discriminator, data):
        k = int(self.hparams["num_discriminators"])
        if k < 1:
            raise ValueError(f"num_discriminators must be >= 1, got {k}")
        copies = [discriminator]
        for _ in range(k - 1):
            clone = copy.deepcopy(discriminator)
            reinitialise(clone)
            copies.append(clone)
        return DiscriminatorEnsemble(copies)


def reinitialise(module: nn.Module) -> None:
    """Fresh ``reset_parameters`` draws for every layer of ``module``, parametrized layers included."""
    for layer in module.modules():
        reset = getattr(layer, "reset_parameters", None)
        if not callable(reset):
            continue
        if not parametrize.is_parametrized(layer):
            reset()
            continue
        # reset_parameters writes into the computed weight, a temporary; re-initialise a plain
        # copy of the layer instead and move its draws into the parametrization's originals.
        plain = copy.deepcopy(layer)
        for name in list(plain.parametrizations.keys()):
            parametrize.remove_parametrizations(plain, name, leave_parametrized=False)
        plain.reset_parameters()
        with torch.no_grad():
            for name, fresh in plain.named_parameters(recurse=False):
                if name in layer.parametrizations:
                    layer.parametrizations[name].original.copy_(fresh)
                else:
                    getattr(layer, name).copy_(fresh)


class DiscriminatorEnsemble(nn.Module):
    """Mean of the member discriminators' scores."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x, y=None):
        return torch.stack([d(x, y).reshape(-1) for d in self.members]).mean(0)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            modules = self.__dict__.get("_modules", {})
            if "members" not in modules:
                raise
            first = modules["members"][0]
            attr = getattr(first, name)
            if name == "features":
                return lambda x, y=None: torch.cat([d.features(x, y).flatten(1) for d in modules["members"]], 1)
            return attr


@hookimpl
def ganbench_register_techniques(registry):
    registry.add(MultiDiscriminator)
