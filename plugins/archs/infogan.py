"""InfoGAN (Chen et al., 2016): a DCGAN-style GAN whose latent codes are made recoverable by a Q head on D."""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ganbench import hookimpl
from ganbench.api import Architecture, DataInfo

# Image side -> side of the first feature map; two stride-2 layers follow (7 -> 28 as in the paper).
BASE = {28: 7, 32: 8}


class Generator(nn.Module):
    """Maps ``[noise | one-hot categorical code | continuous codes]`` to an image."""

    def __init__(self, noise_dim: int, n_categories: int, n_continuous: int, channels: int, side: int,
                 fc: int, ngf: int):
        super().__init__()
        self.noise_dim, self.n_categories, self.n_continuous = noise_dim, n_categories, n_continuous
        self.z_dim = noise_dim + n_categories + n_continuous
        self.conditional = False
        self.base = BASE[side]
        self.ngf = ngf
        self.fc = nn.Sequential(
            nn.Linear(self.z_dim, fc), nn.BatchNorm1d(fc), nn.ReLU(True),
            nn.Linear(fc, ngf * 2 * self.base * self.base), nn.BatchNorm1d(ngf * 2 * self.base * self.base),
            nn.ReLU(True))
        self.conv = nn.Sequential(
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, channels, 4, 2, 1), nn.Tanh())

    def sample_latent(self, n: int, generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
        """Noise ~ N(0, 1), one categorical code ~ Cat(K), continuous codes ~ U(-1, 1), all from ``generator``."""
        where = generator.device
        noise = torch.randn(n, self.noise_dim, generator=generator, device=where)
        category = torch.randint(self.n_categories, (n,), generator=generator, device=where)
        continuous = torch.rand(n, self.n_continuous, generator=generator, device=where) * 2 - 1
        onehot = F.one_hot(category, self.n_categories).to(noise.dtype)
        return torch.cat([noise, onehot, continuous], dim=1).to(device)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], self.ngf * 2, self.base, self.base)
        return self.conv(h)


class Discriminator(nn.Module):
    """D and the recognition network Q share every layer up to the last hidden one."""

    def __init__(self, noise_dim: int, n_categories: int, n_continuous: int, channels: int, side: int,
                 fc: int, ndf: int, q_hidden: int, info_lambda: float):
        super().__init__()
        self.noise_dim, self.n_categories, self.n_continuous = noise_dim, n_categories, n_continuous
        self.info_lambda = info_lambda
        base = BASE[side]
        self.body = nn.Sequential(
            nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.1, True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.1, True),
            nn.Flatten(),
            nn.Linear(ndf * 2 * base * base, fc), nn.BatchNorm1d(fc), nn.LeakyReLU(0.1, True))
        self.head = nn.Linear(fc, 1)
        self.q = nn.Sequential(nn.Linear(fc, q_hidden), nn.BatchNorm1d(q_hidden), nn.LeakyReLU(0.1, True),
                               nn.Linear(q_hidden, n_categories + n_continuous))

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.body(x)).view(-1)

    def auxiliary_loss(self, fake: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """lambda * (negative) variational lower bound of I(c; G(z, c)), up to the constant H(c).

        Categorical code: cross-entropy of Q's logits. Continuous codes: a factored Gaussian, as in the
        paper, with its variance fixed to 1 here (half the squared error) to keep Q's head minimal.
        """
        q = self.q(self.body(fake)).float()
        start = self.noise_dim
        category = z[:, start:start + self.n_categories].argmax(dim=1)
        continuous = z[:, start + self.n_categories:].float()
        loss = F.cross_entropy(q[:, :self.n_categories], category)
        if self.n_continuous:
            loss = loss + 0.5 * (q[:, self.n_categories:] - continuous).pow(2).sum(dim=1).mean()
        return self.info_lambda * loss


class InfoGAN(Architecture):
    """Information-maximising GAN (Chen, Duan, Houthooft, Schulman, Sutskever & Abbeel, 2016, "InfoGAN").

    The paper's MNIST model (appendix C.1): G = FC 1024 - FC 7x7x128 - upconv 64 - upconv C, with
    ReLU and BatchNorm; D = conv 64 - conv 128 (BN) - FC 1024 (BN) with leaky ReLUs (slope 0.1 here);
    Q shares D's body and adds FC 128 (BN) and the code outputs. Latent: 62 noise dims ~ N(0, 1), one 10-way categorical
    code and two continuous codes ~ U(-1, 1) (``z_dim`` is the noise part; ``G.z_dim`` is the whole
    74-dim input). Mutual-information weight lambda = 1 (``info_lambda``). Adam with lr 2e-4 for D and
    1e-3 for G, beta1 0.5, as in the paper. 32 px starts from 8x8. Widths are the paper's.
    """

    name = "infogan"
    paper = ("Chen, X., Duan, Y., Houthooft, R., Schulman, J., Sutskever, I. & Abbeel, P. (2016). InfoGAN: "
             "Interpretable Representation Learning by Information Maximizing Generative Adversarial Nets. "
             "NeurIPS 2016.")
    conditional = False
    discriminator_features = True
    samples_latent = True
    auxiliary_head = True  # Q shares D's body and judges each fake's code
    image_sides = tuple(BASE)
    defaults = {
        "batch_size": 128, "z_dim": 62, "lr_g": 1e-3, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999,
        "n_critic": 1,
        "n_categories": 10, "n_continuous": 2, "info_lambda": 1.0,
        "fc": 1024, "ngf": 64, "ndf": 64, "q_hidden": 128,
    }
    hparam_docs = {
        "z_dim": "size of the incompressible noise part of the latent (the codes come on top)",
        "n_categories": "values of the categorical latent code (10: one per digit)",
        "n_continuous": "continuous latent codes, uniform on [-1, 1]",
        "info_lambda": "weight of the mutual-information term (Q's reconstruction of the codes)",
        "fc": "units of the fully connected layer of G and of D",
        "ngf": "generator feature maps of its first transposed convolution",
        "ndf": "discriminator feature maps of its first convolution",
        "q_hidden": "units of the Q head's hidden layer",
    }
    hparam_limits = {
        "info_lambda": {"low": 0},
    }

    def build(self, data: DataInfo, hparams: Mapping[str, Any]) -> tuple[nn.Module, nn.Module]:
        h = hparams  # the run's resolved hyperparameters: the core has applied the defaults
        channels, side, _ = data.shape
        codes = (int(h["z_dim"]), int(h["n_categories"]), int(h["n_continuous"]))
        G = Generator(*codes, channels, side, int(h["fc"]), int(h["ngf"]))
        D = Discriminator(*codes, channels, side, int(h["fc"]), int(h["ndf"]), int(h["q_hidden"]),
                          float(h["info_lambda"]))
        return G, D


@hookimpl
def ganbench_register_architectures(registry):
    registry.add(InfoGAN)
