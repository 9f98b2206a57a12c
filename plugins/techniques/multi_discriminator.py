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
    hparam_docs = {
        "num_discriminators": "independently initialised discriminators whose scores are averaged",
    }
    hparam_limits = {
        "num_discriminators": {"low": 1},
    }

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
        reset = getattr(type(layer), "reset_parameters", None)
        if not callable(reset):
            continue
        # On a parametrized layer ``weight`` is computed, so initialising it in place would be lost:
        # run the layer's own reset_parameters against a view whose ``weight`` is the stored original.
        reset(_Originals(layer) if parametrize.is_parametrized(layer) else layer)


class _Originals:
    """A layer seen with each parametrized tensor replaced by the tensor the parametrization stores."""

    def __init__(self, layer: nn.Module):
        object.__setattr__(self, "_layer", layer)

    def __getattr__(self, name):
        layer = object.__getattribute__(self, "_layer")
        if parametrize.is_parametrized(layer, name):
            stored = layer.parametrizations[name]
            if hasattr(stored, "original"):
                return stored.original
        return getattr(layer, name)

    def __setattr__(self, name, value):
        setattr(object.__getattribute__(self, "_layer"), name, value)


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
                members = modules["members"]
                return lambda x, y=None: torch.cat([d.features(x, y).flatten(1) for d in members], 1)
            return attr


@hookimpl
def ganbench_register_techniques(registry):
    registry.add(MultiDiscriminator)
