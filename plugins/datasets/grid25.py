"""Grid of 25 Gaussians (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018): means {-4,-2,0,2,4}^2, std 0.05."""

from __future__ import annotations

import itertools

import torch

from ganbench import hookimpl
from ganbench_plugins.datasets._common import GaussianMixture2D


class Grid25(GaussianMixture2D):
    """Grid of 25 Gaussians (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018): means {-4,-2,0,2,4}^2, std 0.05."""

    name = "grid25"
    paper = "Srivastava et al. 2017, VEEGAN (arXiv:1705.07761); Lin et al. 2018, PacGAN (arXiv:1712.04086)"
    info = GaussianMixture2D.make_info(25)
    modes = torch.tensor(list(itertools.product((-4.0, -2.0, 0.0, 2.0, 4.0), repeat=2)), dtype=torch.float32)
    mode_std = 0.05


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(Grid25)
