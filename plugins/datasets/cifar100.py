"""CIFAR-100 (Krizhevsky 2009) through torchvision: 45k train / 5k held-out val / 10k official test, 100 fine classes."""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.api import DataInfo
from ganbench_plugins.datasets._common import CifarFamily


class Cifar100(CifarFamily):
    """CIFAR-100 (Krizhevsky 2009) through torchvision: 45k train / 5k held-out val / 10k official test, 100 fine classes."""

    name = "cifar100"
    info = DataInfo(shape=(3, 32, 32), num_classes=100, kind="image")
    torchvision_class = "CIFAR100"
    folder = "cifar-100-python"
    required = ("train", "test", "meta")
    download_size = "161 MB"


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(Cifar100)
