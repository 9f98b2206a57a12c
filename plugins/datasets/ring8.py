"""Ring of 8 Gaussians (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018): radius 1, std 0.01."""

from __future__ import annotations

import math

import torch

from ganbench import hookimpl
from ganbench_plugins.datasets._common import GaussianMixture2D


class Ring8(GaussianMixture2D):
    """Ring of 8 Gaussians (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018): radius 1, std 0.01."""

    name = "ring8"
    paper = "Srivastava et al. 2017, VEEGAN (arXiv:1705.07761); Lin et al. 2018, PacGAN (arXiv:1712.04086)"
    info = GaussianMixture2D.make_info(8)
    # Angles 2*pi*i/8 for i < 8: linspace(0, 2*pi, 8) would put the last mode on the first (7 modes).
    modes = torch.tensor([[math.cos(2 * math.pi * i / 8), math.sin(2 * math.pi * i / 8)] for i in range(8)],
                         dtype=torch.float32)
    mode_std = 0.01


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(Ring8)
