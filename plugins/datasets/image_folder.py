"""Any folder of images (torchvision ImageFolder): one subfolder per class, centre-cropped to a square resolution."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ganbench import hookimpl
from ganbench.api import DataInfo
from ganbench.errors import DataUnavailableError
from ganbench_plugins.datasets._common import (
    SPLITS, TorchvisionDataset, decode_images, split_seed, stratified_split)


class ImageFolder(TorchvisionDataset):
    """Any folder of images (torchvision ImageFolder): one subfolder per class, centre-cropped to a square resolution."""

    name = "image_folder"
    # The class-level info is the default before a folder is known; instances describe their folder.
    info = DataInfo(shape=(3, 64, 64), num_classes=0, kind="image")
    folder = "."
    required = ()
    download_size = ""
    # No official split: 10 % each held out for selection and for the score, stratified by class.
    val_fraction = 0.1
    test_fraction = 0.1

    def __init__(self, root: str | None = None, download: bool = False, resolution: int = 64):
        super().__init__(root, download)
        self.resolution = int(resolution)
        classes = self._class_folders()
        # One subfolder (all images in "faces/", say) is a folder of unlabelled images.
        self.info = DataInfo(shape=(3, self.resolution, self.resolution),
                             num_classes=len(classes) if len(classes) > 1 else 0, kind="image")

    def _class_folders(self) -> list[str]:
        if not self.root or not os.path.isdir(self.root):
            return []
        return sorted(e.name for e in os.scandir(self.root) if e.is_dir() and not e.name.startswith("."))

    @property
    def data_dir(self) -> Path:
        return Path(self.root) if self.root else Path("<no root given>")

    def missing_message(self) -> str | None:
        if not self.root:
            return ("image_folder needs the folder of images as the dataset root "
                    "(one subfolder per class; a single subfolder for unlabelled images)")
        if not self._class_folders():
            return (f"image_folder found no class subfolders under {self.root}; "
                    "put the images in one subfolder per class (or a single subfolder)")
        return None

    def availability(self) -> str | None:
        return self.missing_message()  # nothing to download, whatever --download says

    def ensure_files(self) -> None:
        message = self.missing_message()
        if message:
            raise DataUnavailableError(message)

    def recipe(self) -> str:
        return f"{super().recipe()}|res{self.resolution}|val{self.val_fraction}|test{self.test_fraction}"

    def decode(self) -> dict[str, np.ndarray]:
        from torchvision.datasets import ImageFolder as TvImageFolder

        ds = self.open_torchvision(lambda: TvImageFolder(str(self.root)))
        labels = np.asarray(ds.targets, dtype=np.int64)
        n = len(labels)
        n_val, n_test = round(n * self.val_fraction), round(n * self.test_fraction)
        if n_val < 1 or n_test < 1 or n - n_val - n_test < 1:
            raise DataUnavailableError(f"image_folder: {n} images under {self.root} are too few to split "
                                       "into train, val and test")
        parts = stratified_split(labels, [n - n_val - n_test, n_val, n_test], split_seed(self.name, "split"))
        images = decode_images([path for path, _ in ds.samples], self.resolution)
        out = {}
        for split, idx in zip(SPLITS, parts):
            out[f"x_{split}"] = images[idx]
            if self.info.num_classes:
                out[f"y_{split}"] = labels[idx]
        return out

    def listed_paths(self):
        return self._class_folders()


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(ImageFolder)
