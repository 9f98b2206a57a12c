"""CIFAR-10 (Krizhevsky 2009) through torchvision: 45k train / 5k held-out val / 10k official test, 32x32 RGB."""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.api import DataInfo
from ganbench_plugins.datasets._common import CifarFamily


class Cifar10(CifarFamily):
    """CIFAR-10 (Krizhevsky 2009) through torchvision: 45k train / 5k held-out val / 10k official test, 32x32 RGB."""

    name = "cifar10"
    info = DataInfo(shape=(3, 32, 32), num_classes=10, kind="image")
    torchvision_class = "CIFAR10"
    folder = "cifar-10-batches-py"
    required = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                "test_batch", "batches.meta")
    download_size = "163 MB"


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(Cifar10)
