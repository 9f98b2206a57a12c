"""Technique plugin: the minibatch standard-deviation feature."""

from __future__ import annotations

import torch
from torch import nn

from ganbench import hookimpl
from ganbench.api import Technique
from ganbench.wrappers import DiscriminatorWrapper


class MinibatchStddev(Technique):
    """Minibatch standard deviation: the discriminator sees the feature spread of each group of samples.

    Karras, Aila, Laine and Lehtinen (2018), "Progressive Growing of GANs for Improved Quality,
    Stability, and Variation", ICLR, section 3. The batch is split into groups of
    ``minibatch_group_size`` (4 in the paper); within each group the standard deviation of every
    feature is averaged into one number, which is appended to each group member's features before the
    decision. Little variation among fakes gives them away.

    Architectures are not edited, so the discriminator is wrapped:
    ``score(x) = D(x, y) + w * s(x)`` with ``s`` the group statistic. When D's last layer is linear in
    its features this equals appending the statistic to the input of that layer; the paper appends
    it a little earlier, as a constant feature map before D's last convolution block. ``s`` is
    computed on ``D.features(x, y)`` when D exposes it (so the trunk runs twice per scoring), else on
    the flattened input. The group size shrinks to the largest divisor of the batch.
    """

    name = "minibatch_stddev"
    paper = ("Karras, Aila, Laine, Lehtinen (2018). Progressive Growing of GANs for Improved Quality, "
             "Stability, and Variation. ICLR.")
    one_score_per_sample = True   # adds to each sample's score: not to a two-domain D's pair of scores
    defaults = {"minibatch_group_size": 4}
    hparam_docs = {
        "minibatch_group_size": "samples per group whose feature spread D sees (4 in the paper)",
    }
    hparam_limits = {
        "minibatch_group_size": {"low": 1},
    }

    def wrap_discriminator(self, discriminator, data):
        use_features = callable(getattr(discriminator, "features", None))
        return MinibatchStddevDiscriminator(discriminator, int(self.hparams["minibatch_group_size"]),
                                            use_features)


def minibatch_stddev(f: torch.Tensor, group_size: int) -> torch.Tensor:
    """``[B, F] -> [B, 1]``: each sample gets the mean feature std of its group (strided groups)."""
    B = f.shape[0]
    g = max(d for d in range(1, min(group_size, B) + 1) if B % d == 0)
    groups = f.float().reshape(g, B // g, -1)            # sample i is in group i % (B // g)
    std = (groups.var(0, unbiased=False) + 1e-8).sqrt()   # eps: sqrt has an infinite slope at 0
    stat = std.mean(1)                                    # [B // g]
    return stat.repeat(g).unsqueeze(1)


class MinibatchStddevDiscriminator(DiscriminatorWrapper):
    """``D(x, y) + w * s(x)``; attributes it lacks (``features``, ``auxiliary_loss``...) are D's."""

    def __init__(self, inner: nn.Module, group_size: int, use_features: bool):
        super().__init__(inner)
        self.group_size, self.use_features = group_size, use_features
        # Default (random) init, not zeros: spectral normalisation of a zero weight divides by zero.
        self.head = nn.Linear(1, 1)

    def forward(self, x, y=None):
        score = self.inner(x, y).reshape(-1)
        f = (self.inner.features(x, y) if self.use_features else x).flatten(1)
        if f.shape[0] != score.shape[0]:
            raise ValueError("minibatch_stddev: the discriminator scores a different number of rows "
                             "than it was given (packed by pacgan?) and has no features() to match them")
        return score + self.head(minibatch_stddev(f, self.group_size).to(score.dtype)).reshape(-1)


@hookimpl
def ganbench_register_techniques(registry):
    registry.add(MinibatchStddev)
