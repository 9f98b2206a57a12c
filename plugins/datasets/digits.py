"""scikit-learn's 1,797 handwritten 8x8 digits (UCI optdigits), split 1197/300/300 by class."""

from __future__ import annotations

import torch

from ganbench import hookimpl
from ganbench.api import DataInfo, Dataset
from ganbench_plugins.datasets._common import (
    check_split, labels_tensor, split_seed, stratified_split, to_unit_range)


class Digits(Dataset):
    """scikit-learn's 1,797 handwritten 8x8 digits (UCI optdigits), split 1197/300/300 by class."""

    name = "digits"
    info = DataInfo(shape=(1, 8, 8), num_classes=10, kind="image")
    # Two thirds to train on; 300 (about 30 per class) each to select and to score.
    sizes = {"train": 1197, "val": 300, "test": 300}

    def load(self, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        check_split(self.name, split)
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)  # float64 pixel counts 0..16, ~20 ms: not worth caching
        parts = stratified_split(y, [self.sizes[s] for s in ("train", "val", "test")], split_seed(self.name, "split"))
        idx = parts[("train", "val", "test").index(split)]
        return to_unit_range(x[idx].reshape(-1, 1, 8, 8), max_value=16.0), labels_tensor(y[idx])


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(Digits)
