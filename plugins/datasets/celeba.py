"""CelebA (Liu et al. 2015) aligned faces through torchvision: centre crop 108, resized to 64x64, official splits, no labels."""

from __future__ import annotations

import importlib.util

import numpy as np

from ganbench import hookimpl
from ganbench.api import DataInfo
from ganbench_plugins.datasets._common import TorchvisionDataset, decode_images


class CelebA(TorchvisionDataset):
    """CelebA (Liu et al. 2015) aligned faces through torchvision: centre crop 108, resized to 64x64, official splits, no labels."""

    name = "celeba"
    paper = "Liu et al. 2015, Deep Learning Face Attributes in the Wild (ICCV)"
    info = DataInfo(shape=(3, 64, 64), num_classes=0, kind="image")
    folder = "celeba"
    # torchvision's CelebA insists on all annotation files, although only the partition is used here.
    required = ("img_align_celeba", "list_eval_partition.txt", "list_attr_celeba.txt", "identity_CelebA.txt",
                "list_bbox_celeba.txt", "list_landmarks_align_celeba.txt")
    download_size = "1.4 GB from Google Drive, often over quota"
    place_hint = "place img_align_celeba/ and the list_*.txt files there"
    # The 108-pixel centre crop of the 178x218 aligned faces, resized to 64, is the preprocessing of
    # DCGAN's CelebA runs (carpedm20/DCGAN-tensorflow) that most 64x64 GAN papers reuse.
    crop = 108
    resolution = 64
    # Official partition: 162,770 train / 19,867 val / 19,962 test.
    partitions = {"train": "train", "val": "valid", "test": "test"}

    def recipe(self) -> str:
        return f"{super().recipe()}|crop{self.crop}|res{self.resolution}"

    def download_blocker(self) -> str | None:
        if importlib.util.find_spec("gdown") is None:
            return (f"celeba is not under {self.data_dir} and --download needs the gdown package "
                    f"(pip install gdown); or {self.place_hint}")
        return None

    def fetch(self) -> None:
        from torchvision.datasets import CelebA as TvCelebA
        TvCelebA(str(self.data_dir), split="all", target_type=[], download=True)

    def decode(self) -> dict[str, np.ndarray]:
        from torchvision.datasets import CelebA as TvCelebA

        out = {}
        images = self.data_dir / self.folder / "img_align_celeba"
        for split, official in self.partitions.items():
            ds = self.open_torchvision(lambda: TvCelebA(str(self.data_dir), split=official, target_type=[]))
            out[f"x_{split}"] = decode_images([images / f for f in ds.filename], self.resolution, crop=self.crop)
        return out


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(CelebA)
