"""scikit-learn's 8x8 digits drawn at MNIST's size and framing: 28x28, the digit in the central 20x20."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganbench import hookimpl
from ganbench.api import DataInfo
from ganbench_plugins.datasets._pairs import as_8bit
from ganbench_plugins.datasets.digits import Digits

SIDE, DIGIT_BOX = 28, 20   # MNIST's digits are size-normalised into a 20x20 box centred in 28x28


def to_mnist_frame(x: torch.Tensor) -> torch.Tensor:
    """8x8 digits in [-1, 1] -> 28x28: bicubic upsampling to the 20x20 box, background padding of 4 px,
    rounded to 8-bit grey levels as MNIST is stored."""
    box = F.interpolate(x.float(), size=(DIGIT_BOX, DIGIT_BOX), mode="bicubic", align_corners=False)
    pad = (SIDE - DIGIT_BOX) // 2
    return as_8bit(F.pad(box, (pad, pad, pad, pad), value=-1.0))


class Digits28(Digits):
    """scikit-learn's 1,797 handwritten digits (UCI optdigits) at MNIST's size: 28x28, split 1197/300/300.

    The same images, labels and splits as ``digits``, each upsampled (bicubic) from 8x8 into MNIST's
    central 20x20 box (LeCun et al. 1998 size-normalise MNIST's digits into 20x20 and centre them in
    28x28). A second, real digit source of MNIST's shape: blockier strokes from a 4x4-block count of
    32x32 bitmaps (Alpaydin & Kaynak 1998), the other domain of ``mnist5k_digits28``.
    """

    name = "digits28"
    info = DataInfo(shape=(1, SIDE, SIDE), num_classes=10, kind="image")

    def load(self, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, y = Digits(self.root, self.download).load(split)   # digits' own split, not one seeded by this name
        return to_mnist_frame(x), y


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(Digits28)
