"""Technique plugin: historical averaging."""

from __future__ import annotations

import torch

from ganbench import hookimpl
from ganbench.api import Technique


class HistoricalAveraging(Technique):
    """Historical averaging: each player is pulled towards the running average of its past parameters.

    Salimans, Goodfellow, Zaremba, Cheung, Radford and Chen (2016), "Improved Techniques for Training
    GANs", section 3.3. Each player's cost gets ``||theta - (1/t) sum_i theta[i]||^2``, inspired by
    fictitious play: it damps the orbits that gradient descent can follow around an equilibrium.

    ``historical_averaging_weight`` scales the term (the paper writes it with weight 1). The average
    covers the parameters at every earlier call, i.e. before each discriminator update for D and
    before each generator step for G; it is updated after the term is built, so the first call adds
    nothing. Averages are kept in float32 per parameter name and saved in the technique state.
    Limitation: the discriminator hook does not say which D is being updated, so during the
    look-ahead updates of the unrolled technique the term and the average use the trainer's D.
    """

    name = "historical_averaging"
    discrete_samples = True  # never touches what D sees nor replaces the generator loss (token data)
    paper = ("Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen (2016). "
             "Improved Techniques for Training GANs. NeurIPS.")
    encoder_compatible = True  # pulls each player's parameters (E's with G's) towards their average
    defaults = {"historical_averaging_weight": 1.0}
    hparam_docs = {
        "historical_averaging_weight": "weight of ||theta - mean of past theta||^2 in each player's loss",
    }
    hparam_limits = {
        "historical_averaging_weight": {"low": 0},
    }

    def __init__(self, hparams):
        super().__init__(hparams)
        self.averages = {"G": {}, "D": {}}
        self.counts = {"G": 0, "D": 0}

    def _term(self, player: str, module: torch.nn.Module) -> torch.Tensor | None:
        params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        avg, count = self.averages[player], self.counts[player]
        term = None
        if count:
            term = sum(((p.float() - avg[n]) ** 2).sum() for n, p in params)
            term = float(self.hparams["historical_averaging_weight"]) * term
        with torch.no_grad():
            for n, p in params:
                if count:
                    avg[n].add_(p.detach().float() - avg[n], alpha=1.0 / (count + 1))
                else:
                    avg[n] = p.detach().float().clone()
        self.counts[player] = count + 1
        return term

    def discriminator_extra_loss(self, ctx):
        return self._term("D", ctx.discriminator)

    def generator_extra_loss(self, ctx):
        return self._term("G", ctx.generator)

    def state_dict(self):
        return {"averages": {k: dict(v) for k, v in self.averages.items()}, "counts": dict(self.counts)}

    def load_state_dict(self, state):
        self.averages = {k: {n: t.clone() for n, t in v.items()} for k, v in state["averages"].items()}
        self.counts = {k: int(v) for k, v in state["counts"].items()}


@hookimpl
def ganbench_register_techniques(registry):
    registry.add(HistoricalAveraging)
