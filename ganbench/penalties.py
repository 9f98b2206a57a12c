"""Shared pieces for losses that penalise the discriminator's gradient (WGAN-GP, DRAGAN, R1).

Part of the plugin-author kit: a third-party loss can use these too.
"""

from __future__ import annotations

import torch
from torch import nn


def score_gradients(discriminator: nn.Module, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """d(sum of D's scores)/dx per sample, flattened to ``[B, -1]``. ``create_graph`` is on because
    the penalty built from it is itself differentiated when D is updated."""
    x = x.detach().requires_grad_(True)
    scores = discriminator(x, labels).reshape(-1)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    return grad.reshape(grad.shape[0], -1)


def one_centred_penalty(discriminator: nn.Module, x: torch.Tensor, labels: torch.Tensor | None,
                        weight: float) -> torch.Tensor:
    """``weight * E[(||grad D(x)|| - 1)^2]``: WGAN-GP's penalty, which DRAGAN applies near the data."""
    norms = score_gradients(discriminator, x, labels).norm(2, dim=1)
    return weight * ((norms - 1) ** 2).mean()
