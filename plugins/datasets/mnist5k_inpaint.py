"""MNIST-5k for paired translation: each digit paired with itself with its central 12x12 square erased (inpainting)."""

from __future__ import annotations

import torch

from ganbench import hookimpl
from ganbench.api import DataInfo
from ganbench_plugins.datasets._pairs import DerivedPairs

HOLE = 12   # side of the erased square, centred: the middle of every digit's strokes


def erase_centre(x: torch.Tensor, side: int = HOLE) -> torch.Tensor:
    """``x`` with its central ``side`` x ``side`` pixels set to the background (-1), the region-inpainting
    input of Pathak et al. 2016 ("Context Encoders"), here on 28 px digits."""
    out = x.clone()
    h, w = x.shape[-2:]
    top, left = (h - side) // 2, (w - side) // 2
    out[..., top:top + side, left:left + side] = -1.0
    return out


class Mnist5kInpaint(DerivedPairs):
    """MNIST-5k for paired translation: each digit paired with itself with its central 12x12 square erased (inpainting).

    The targets, labels and splits are MNIST-5k's; the input of each pair is :func:`erase_centre` of its
    target, so the generator must draw the missing middle of the strokes from the rest of the digit.
    """

    name = "mnist5k_inpaint"
    pair_input = "image"
    inputs = DataInfo(shape=(1, 28, 28), num_classes=10, kind="image")
    derive = staticmethod(erase_centre)


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(Mnist5kInpaint)
