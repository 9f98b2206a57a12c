"""MNIST-5k for 4x super-resolution: each 28x28 digit paired with its 7x7 bicubic downsampling."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganbench import hookimpl
from ganbench.api import DataInfo
from ganbench_plugins.datasets._pairs import DerivedPairs, as_8bit

FACTOR = 4


def downsample(x: torch.Tensor, factor: int = FACTOR) -> torch.Tensor:
    """Bicubic downsampling by ``factor`` with antialiasing (the LR images of Ledig et al. 2017, section
    3, are bicubic downsamplings of the HR ones), stored as 8-bit grey levels in [-1, 1] like the targets."""
    side = x.shape[-1] // factor
    small = F.interpolate(x.float(), size=(side, side), mode="bicubic", antialias=True, align_corners=False)
    return as_8bit(small)


class Mnist5kX4(DerivedPairs):
    """MNIST-5k for 4x super-resolution: each 28x28 digit paired with its 7x7 bicubic downsampling.

    The targets, labels and splits are MNIST-5k's (3000/1000/1000, 100 per class in val and test);
    the input of each pair is its target downsampled by :func:`downsample`, so no input reveals a
    target of another split.
    """

    name = "mnist5k_x4"
    pair_input = "low_resolution"
    inputs = DataInfo(shape=(1, 28 // FACTOR, 28 // FACTOR), num_classes=10, kind="image")
    derive = staticmethod(downsample)


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(Mnist5kX4)
