"""Stacked MNIST (Metz et al. 2017; Srivastava et al. 2017): three mnist5k digits as RGB channels, 1000 modes."""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from ganbench import hookimpl
from ganbench.api import DataInfo, Dataset
from ganbench_plugins.datasets._common import check_split, labels_tensor, split_seed, to_unit_range
from ganbench_plugins.datasets.mnist5k import Mnist5k


class StackedMnist(Dataset):
    """Stacked MNIST (Metz et al. 2017; Srivastava et al. 2017): three mnist5k digits as RGB channels, 1000 modes."""

    name = "stacked_mnist"
    paper = "Metz et al. 2017, Unrolled GANs (arXiv:1611.02163); Srivastava et al. 2017, VEEGAN (arXiv:1705.07761)"
    # Labels are the mode d0*100 + d1*10 + d2, for the modes metric; the GAN itself is unconditional.
    info = DataInfo(shape=(3, 28, 28), num_classes=0, kind="image", num_modes=1000)
    # train: 25,600 (PacGAN's unrolled-setting N), ~26 draws per mode, 240 MB as float32 where
    # PacGAN's 128k would take 1.2 GB. val: 2,600 (a tenth of N) keeps checkpoint selection cheap.
    # test: 26,000, the protocol's N, so real data scored like a generator covers all 1000 modes
    # (expected misses 1000*e^-26) and gives the KL floor to compare generators with.
    sizes = {"train": 25_600, "val": 2_600, "test": 26_000}

    recipe_version = 1  # bump when the construction changes: fingerprint() cannot see it

    def fingerprint(self) -> str:
        # A pure function of mnist5k and this recipe: cheaper than hashing 54,200 RGB images.
        return hashlib.sha256(f"{self.name}|v{self.recipe_version}|{self.sizes}|{Mnist5k().fingerprint()}"
                              .encode()).hexdigest()[:16]

    def load(self, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        check_split(self.name, split)
        return self._triples(split, self.sizes[split], np.random.default_rng(split_seed(self.name, split)))

    def draw(self, split: str, n: int, seed: int = 0):
        """``n`` fresh triples of ``split``'s digits: the real-data row at N = 26,000 from the 1,000
        val digits, where resampling the 2,600 stored val triples would cover only ~930 modes."""
        check_split(self.name, split)
        rng = np.random.default_rng([split_seed(self.name, f"draw:{split}"), int(seed)])
        x, y = self._triples(split, n, rng)
        return x, y, f"{n} fresh triples of the {split} digits"

    def _triples(self, split: str, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        # Triples come only from the matching mnist5k split, so test digits never appear in train.
        digits, digit_labels = Mnist5k().uint8_split(split)
        pick = rng.integers(len(digits), size=(n, 3))  # independent, with replacement
        x = digits[pick, 0]                                             # [N, 3, 28, 28]: channel c = digit c
        modes = digit_labels[pick] @ np.array([100, 10, 1], dtype=np.int64)
        return to_unit_range(x), labels_tensor(modes)


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(StackedMnist)
