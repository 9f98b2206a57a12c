"""MNIST (LeCun et al. 1998) through torchvision: 55k train / 5k held-out val / 10k official test."""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.api import DataInfo
from ganbench_plugins.datasets._common import MnistFamily


class Mnist(MnistFamily):
    """MNIST (LeCun et al. 1998) through torchvision: 55k train / 5k held-out val / 10k official test."""

    name = "mnist"
    info = DataInfo(shape=(1, 28, 28), num_classes=10, kind="image")
    torchvision_class = "MNIST"
    folder = "MNIST"
    download_size = "12 MB"


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(Mnist)
