"""Technique plugin: exponential moving average of the generator."""

from __future__ import annotations

import copy

import torch

from ganbench import hookimpl
from ganbench.api import Technique


class EMA(Technique):
    """Generator EMA: evaluate an exponential moving average of the generator's weights (decay 0.999).

    Karras, Aila, Laine and Lehtinen (2018), "Progressive Growing of GANs for Improved Quality,
    Stability, and Variation", ICLR; Yazıcı, Foo, Winkler, Yap, Piliouras and Chandrasekhar (2019),
    "The Unusual Effectiveness of Averaging in GAN Training", ICLR. Averaging damps the oscillation
    of the generator around the equilibrium; the trained generator is unchanged, only the one that
    is evaluated differs.

    After every generator step ``ema = decay * ema + (1 - decay) * G`` for parameters; buffers (batch
    norm statistics) are copied as they are. The average starts from G's initial weights. It tracks
    the generator as given to :meth:`wrap_generator`, so techniques listed after this one that wrap G
    are not part of the evaluated copy.
    """

    name = "ema"
    discrete_samples = True  # never touches what D sees nor replaces the generator loss (token data)
    paper = ("Karras, Aila, Laine, Lehtinen (2018). Progressive Growing of GANs for Improved Quality, "
             "Stability, and Variation. ICLR. / Yazıcı, Foo, Winkler, Yap, Piliouras, Chandrasekhar "
             "(2019). The Unusual Effectiveness of Averaging in GAN Training. ICLR.")
    encoder_compatible = True  # averages G's parameters, E's included (E is part of G)
    defaults = {"ema_decay": 0.999}
    ddp_compatible = True  # every rank averages the same all-reduced G weights
    hparam_docs = {
        "ema_decay": "decay of the moving average of G's weights (0.999)",
    }
    hparam_limits = {
        "ema_decay": {"low": 0, "high": 1},
    }

    def __init__(self, hparams):
        super().__init__(hparams)
        self.source = None
        self.average = None

    def wrap_generator(self, generator, data):
        self.source = generator
        self.average = copy.deepcopy(generator).requires_grad_(False)
        return generator

    def _follow_device(self) -> None:
        # The trainer moves G after wrapping; the copy follows on first use.
        param = next(self.source.parameters(), None)
        if param is not None and next(self.average.parameters()).device != param.device:
            self.average.to(param.device)

    @torch.no_grad()
    def after_generator_step(self, ctx):
        self._follow_device()
        weight = 1.0 - float(self.hparams["ema_decay"])
        for avg, p in zip(self.average.parameters(), self.source.parameters()):
            avg.lerp_(p.detach(), weight)
        for avg, b in zip(self.average.buffers(), self.source.buffers()):
            avg.copy_(b)

    def evaluation_generator(self, generator):
        self._follow_device()
        return self.average

    def state_dict(self):
        return {"average": self.average.state_dict()}

    def load_state_dict(self, state):
        self.average.load_state_dict(state["average"])


@hookimpl
def ganbench_register_techniques(registry):
    registry.add(EMA)
