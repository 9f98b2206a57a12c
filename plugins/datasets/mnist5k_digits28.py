"""Two unpaired digit domains side by side: an MNIST-5k digit (left) and a scikit-learn digit at 28x28 (right)."""

from __future__ import annotations

import torch

from ganbench import hookimpl
from ganbench.api import DataInfo, Dataset
from ganbench_plugins.datasets._common import check_split, split_seed
from ganbench_plugins.datasets.digits28 import Digits28
from ganbench_plugins.datasets.mnist5k import Mnist5k


class Mnist5kDigits28(Dataset):
    """Unpaired translation between two real digit sources: MNIST-5k (domain A) and ``digits28`` (B).

    A joint sample is one image of each domain side by side, ``[1, 28, 56]``: the left half an MNIST-5k
    digit, the right half a scikit-learn digit, coupled at random (a fixed permutation per split, so
    the halves say nothing about each other: the domains stay unpaired, as in Zhu et al. 2017). Each
    split couples every MNIST-5k digit of the split (3000/1000/1000) with one of the same split's
    ``digits28`` images (1197/300/300), each of those used equally often (2-3 times in train).
    ``load`` gives no class (a joint sample holds two digits): :meth:`domain_labels` gives each half's.
    """

    name = "mnist5k_digits28"
    holds = "two domains"
    domains = ("mnist5k", "digits28")
    pair_input = "image"
    info = DataInfo(shape=(1, 28, 56), num_classes=0, kind="image")
    inputs = info
    sizes = dict(Mnist5k.sizes)

    def _coupled(self, split: str):
        check_split(self.name, split)
        xa, ya = Mnist5k(self.root, self.download).load(split)
        xb, yb = Digits28(self.root, self.download).load(split)
        gen = torch.Generator().manual_seed(split_seed(self.name, f"coupling:{split}"))
        ib = torch.randperm(len(xa), generator=gen) % len(xb)
        return torch.cat([xa, xb[ib]], dim=-1), torch.stack([ya, yb[ib]], dim=1)

    def load(self, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, _ = self._coupled(split)
        return x, None

    def load_inputs(self, split: str) -> torch.Tensor:
        return self._coupled(split)[0]   # the generator translates each half of the joint sample

    def domain_labels(self, split: str) -> torch.Tensor:
        return self._coupled(split)[1]


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(Mnist5kDigits28)
