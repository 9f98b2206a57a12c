"""MNIST-5k for paired translation: each digit paired with the Sobel edge map of itself (edges -> digit)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganbench import hookimpl
from ganbench.api import DataInfo
from ganbench_plugins.datasets._pairs import DerivedPairs, as_8bit

SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def sobel_edges(x: torch.Tensor) -> torch.Tensor:
    """The Sobel gradient magnitude of images in [-1, 1] (Sobel & Feldman's 3x3 operator, both
    directions, zero padding), scaled by its largest possible value (4 sqrt(2) x the range 2) into
    [-1, 1] and stored as 8-bit grey levels: -1 where the image is flat, towards 1 on strong edges."""
    kernels = torch.stack([SOBEL_X, SOBEL_X.T]).unsqueeze(1).to(x)
    flat = x.reshape(-1, 1, *x.shape[-2:]).float() + 1   # background 0, so the padding adds no edge
    gx, gy = F.conv2d(flat, kernels, padding=1).unbind(1)
    magnitude = torch.sqrt(gx ** 2 + gy ** 2) / (8 * 2 ** 0.5)
    return as_8bit(magnitude.clamp(0, 1).reshape(x.shape) * 2 - 1)


class Mnist5kEdges(DerivedPairs):
    """MNIST-5k for paired translation: each digit paired with the Sobel edge map of itself (edges -> digit).

    The targets, labels and splits are MNIST-5k's; the input of each pair is :func:`sobel_edges` of
    its target, the edges-to-image setting of Isola et al. 2017 (their edges come from HED on photos).
    """

    name = "mnist5k_edges"
    pair_input = "image"
    inputs = DataInfo(shape=(1, 28, 28), num_classes=10, kind="image")
    derive = staticmethod(sobel_edges)


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(Mnist5kEdges)
