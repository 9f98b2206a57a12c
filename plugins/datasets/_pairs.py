"""What the (input, target) datasets derived from MNIST-5k share: targets, labels and splits are
MNIST-5k's, and each input is a fixed function of its own target (so no input reveals a target of
another split)."""

from __future__ import annotations

import torch

from ganbench_plugins.datasets.mnist5k import Mnist5k


def as_8bit(x: torch.Tensor) -> torch.Tensor:
    """``x`` in [-1, 1] rounded to the 256 grey levels the targets are stored in."""
    return torch.round((x.clamp(-1, 1) + 1) * 127.5) / 127.5 - 1


class DerivedPairs(Mnist5k):
    """MNIST-5k digits as targets, each paired with :meth:`derive` of itself as its input. A subclass
    declares ``name``, ``pair_input`` and ``inputs`` and gives ``derive``."""

    holds = "pairs"

    @staticmethod
    def derive(targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def load_inputs(self, split: str) -> torch.Tensor:
        return self.derive(self.load(split)[0])
