"""Technique plugin: minibatch discrimination."""

from __future__ import annotations

import torch
from torch import nn

from ganbench import hookimpl
from ganbench.api import Technique
from ganbench.wrappers import DiscriminatorWrapper


class MinibatchDiscrimination(Technique):
    """Minibatch discrimination: the discriminator sees how close each sample is to the rest of its batch.

    Salimans, Goodfellow, Zaremba, Cheung, Radford and Chen (2016), "Improved Techniques for Training
    GANs", section 3.2. A learned tensor ``T`` projects each sample's features ``f(x_i)`` to ``K``
    rows of length ``k``; ``o(x_i)_b = sum_{j != i} exp(-||M_{i,b} - M_{j,b}||_1)`` measures, per
    kernel ``b``, how many other samples of the batch are near ``x_i``. A collapsed generator makes
    fakes that are all near each other, which the discriminator can then detect. Defaults are those
    of the authors' released code: 100 kernels of dimension 5.

    Architectures are not edited, so the discriminator is wrapped:
    ``score(x) = D(x, y) + w . o(x)``. When D's last layer is linear in its features this is exactly
    the paper's construction (a linear layer on ``[f(x), o(x)]``), conditional projection heads
    included. ``f`` is ``D.features(x, y)`` when D exposes it, else the flattened input; the trunk
    then runs twice per scoring (once for ``D(x, y)``, once for ``features``), the price of not
    knowing where D's head starts. The statistic is computed within each scored batch: reals and
    fakes are scored separately by the trainer, as in the paper.
    """

    name = "minibatch_discrimination"
    paper = ("Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen (2016). "
             "Improved Techniques for Training GANs. NeurIPS.")
    one_score_per_sample = True   # adds to each sample's score: not to a two-domain D's pair of scores
    defaults = {"minibatch_kernels": 100, "minibatch_kernel_dim": 5}
    hparam_docs = {
        "minibatch_kernels": "number of kernels B of the minibatch features (100)",
        "minibatch_kernel_dim": "dimension C of each kernel's rows (5)",
    }
    hparam_limits = {
        "minibatch_kernels": {"low": 1},
        "minibatch_kernel_dim": {"low": 1},
    }

    def wrap_discriminator(self, discriminator, data):
        use_features = callable(getattr(discriminator, "features", None))
        width = _feature_width(discriminator, data) if use_features else _prod(data.shape)
        return MinibatchDiscriminator(discriminator, width, int(self.hparams["minibatch_kernels"]),
                                      int(self.hparams["minibatch_kernel_dim"]), use_features)


class MinibatchDiscriminator(DiscriminatorWrapper):
    """``D(x, y) + w . o(x)``; attributes it lacks (``features``, ``auxiliary_loss``...) are D's."""

    def __init__(self, inner: nn.Module, width: int, kernels: int, kernel_dim: int, use_features: bool):
        super().__init__(inner)
        self.kernels, self.kernel_dim, self.use_features = kernels, kernel_dim, use_features
        # Small so that exp(-L1) is not already ~0 for every pair at the start.
        self.T = nn.Parameter(torch.randn(width, kernels * kernel_dim) * 0.05)
        # Default (random) init, not zeros: spectral normalisation of a zero weight divides by zero.
        self.head = nn.Linear(kernels, 1)

    def forward(self, x, y=None):
        score = self.inner(x, y).reshape(-1)
        f = (self.inner.features(x, y) if self.use_features else x).flatten(1)
        if f.shape[0] != score.shape[0]:
            raise ValueError("minibatch_discrimination: the discriminator scores a different number of rows "
                             "than it was given (packed by pacgan?) and has no features() to match them")
        M = (f @ self.T.to(f.dtype)).view(f.shape[0], self.kernels, self.kernel_dim)
        l1 = (M.unsqueeze(0) - M.unsqueeze(1)).abs().sum(-1)        # [B, B, K]
        closeness = torch.exp(-l1).sum(1) - 1.0                     # drop each sample's match with itself
        return score + self.head(closeness).reshape(-1)


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def _feature_width(discriminator: nn.Module, data) -> int:
    """F of ``D.features``: probed on two zero samples in eval mode, so no statistic or RNG moves."""
    was_training = discriminator.training
    discriminator.eval()
    try:
        param = next(discriminator.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        x = torch.zeros(2, *data.shape, device=device)
        y = torch.zeros(2, dtype=torch.long, device=device) if data.num_classes else None
        with torch.no_grad():
            return int(discriminator.features(x, y).flatten(1).shape[1])
    finally:
        discriminator.train(was_training)


@hookimpl
def ganbench_register_techniques(registry):
    registry.add(MinibatchDiscrimination)
