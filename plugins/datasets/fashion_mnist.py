"""Fashion-MNIST (Xiao et al. 2017) through torchvision: 55k train / 5k held-out val / 10k official test."""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.api import DataInfo
from ganbench_plugins.datasets._common import MnistFamily


class FashionMnist(MnistFamily):
    """Fashion-MNIST (Xiao et al. 2017) through torchvision: 55k train / 5k held-out val / 10k official test."""

    name = "fashion_mnist"
    info = DataInfo(shape=(1, 28, 28), num_classes=10, kind="image")
    torchvision_class = "FashionMNIST"
    folder = "FashionMNIST"
    download_size = "30 MB"


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(FashionMnist)
