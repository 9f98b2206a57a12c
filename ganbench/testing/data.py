"""Tiny, deterministic, embedded datasets for plugin tests: no download, no files, milliseconds to load.

Their values follow the conventions real datasets follow: images in [-1, 1] (8-bit steps), points in
their own coordinates (here a ring of 8 modes of radius 2), integer labels in ``[0, num_classes)``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from ganbench.api import DataInfo, Dataset

SPLIT_SEEDS = {"train": 0, "val": 1, "test": 2}


class _TinyDataset(Dataset):
    paper = "ganbench test data (2026), no paper: a fixture"
    size: ClassVar[int] = 64

    @classmethod
    def _split_seed(cls, split: str) -> int:
        if split not in SPLIT_SEEDS:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLIT_SEEDS)}")
        return SPLIT_SEEDS[split]


class TinyPoints(_TinyDataset):
    """Eight Gaussians on a circle of radius 2, 64 points per split (test fixture)."""

    name = "tiny_points"
    info = DataInfo(shape=(2,), kind="points", num_modes=8)
    sizes = {"train": 64, "val": 64, "test": 64}
    modes = tuple((2 * math.cos(2 * math.pi * k / 8), 2 * math.sin(2 * math.pi * k / 8)) for k in range(8))

    def load(self, split):
        gen = torch.Generator().manual_seed(self._split_seed(split))
        centres = torch.tensor(self.modes, dtype=torch.float32)
        which = torch.randint(8, (self.size,), generator=gen)
        return centres[which] + 0.05 * torch.randn(self.size, 2, generator=gen), None


class _TinyImages(_TinyDataset):
    def load(self, split):
        gen = torch.Generator().manual_seed(self._split_seed(split))
        c, h, w = self.info.shape
        labels = torch.arange(self.size) % self.info.num_classes
        # A bright square whose position is the label, on noise: classes are learnable, values 8-bit.
        x = torch.rand(self.size, c, h, w, generator=gen) * 0.2
        side = max(h // 4, 1)
        for i, y in enumerate(labels.tolist()):
            top, left = (y // 4) * side % (h - side + 1), (y % 4) * side % (w - side + 1)
            x[i, :, top:top + side, left:left + side] = 1.0
        x = torch.round(x * 255) / 255 * 2 - 1
        return x, labels


class TinyDigits(_TinyImages):
    """1x8x8 labelled images, 10 classes, 64 per split (test fixture, shaped like scikit-learn digits)."""

    name = "tiny_digits"
    info = DataInfo(shape=(1, 8, 8), num_classes=10)
    sizes = {"train": 64, "val": 64, "test": 64}


class TinyMnist(_TinyImages):
    """1x28x28 labelled images, 10 classes, 64 per split (test fixture, shaped like MNIST)."""

    name = "tiny_mnist"
    info = DataInfo(shape=(1, 28, 28), num_classes=10)
    sizes = {"train": 64, "val": 64, "test": 64}


TINY_DATASETS: tuple[type[Dataset], ...] = (TinyPoints, TinyDigits, TinyMnist)
