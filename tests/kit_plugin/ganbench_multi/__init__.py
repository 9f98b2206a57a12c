"""Five plugins behind one entry point, written from docs/plugins.md alone: a loss, an architecture,
a metric, a technique and a report format. tests/test_kit.py runs ganbench.testing on each, uninstalled."""

import math
import os

import torch
from torch import nn

from ganbench import hookimpl
from ganbench.api import Architecture, Loss, Metric, MetricValue, ReportFormat, Technique


class WassersteinLP(Loss):
    """Wasserstein loss with a one-sided Lipschitz penalty on interpolates (WGAN-LP).

    The penalty is ``lam * E[max(0, |grad D(x_hat)| - 1)^2]``: zero, with zero gradient, for a critic
    that is already 1-Lipschitz, which a fresh critic often is.
    """

    name = "multi_wgan_lp"
    paper = "Petzka, H., Fischer, A. and Lukovnicov, D. (2018). On the regularization of Wasserstein GANs. ICLR."
    defaults = {"lp_lambda": 10.0, "n_critic": 5}
    hparam_docs = {"lp_lambda": "weight of the Lipschitz penalty"}

    def discriminator_loss(self, real_scores, fake_scores):
        return fake_scores.mean() - real_scores.mean()

    def generator_loss(self, fake_scores, real_scores=None):
        return -fake_scores.mean()

    def penalty(self, discriminator, real, fake, labels, rng):
        alpha = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=rng, device=real.device)
        x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
        (grad,) = torch.autograd.grad(discriminator(x_hat, labels).sum(), x_hat, create_graph=True)
        excess = torch.relu(grad.flatten(1).norm(dim=1) - 1)
        return float(self.hparams["lp_lambda"]) * (excess ** 2).mean()


class _G(nn.Module):
    conditional = False

    def __init__(self, data, z_dim):
        super().__init__()
        self.z_dim, self.shape, self.is_image = z_dim, tuple(data.shape), data.is_image
        self.net = nn.Sequential(nn.Linear(z_dim, 32), nn.LeakyReLU(0.2), nn.Linear(32, math.prod(self.shape)))

    def forward(self, z, y=None):
        x = self.net(z).view(z.shape[0], *self.shape)
        return torch.tanh(x) if self.is_image else x


class _D(nn.Module):
    def __init__(self, data):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(data.shape), 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))

    def forward(self, x, y=None):
        return self.net(x).squeeze(1)


class TinyMLP(Architecture):
    """A two-layer MLP generator and discriminator, for 2D points."""

    name = "multi_mlp"
    paper = "Goodfellow, I. et al. (2014). Generative Adversarial Nets. NeurIPS."
    defaults = {"batch_size": 32, "z_dim": 8, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.5, "beta2": 0.9,
                "n_critic": 1}

    @classmethod
    def supports(cls, data):
        return None if data.kind == "points" else "2D points only"

    def build(self, data, hparams):
        return _G(data, int(hparams["z_dim"])), _D(data)


class MeanShift(Metric):
    """Distance between the mean of generated and real samples (lower is better)."""

    name = "multi_mean_shift"
    paper = "Dowson, D. C. and Landau, B. V. (1982). The Frechet distance between multivariate normal distributions."

    def compute(self, ctx, split):
        fake = ctx.sample(64).flatten(1)
        real = ctx.reference(split)[0].flatten(1).float()
        value = float((fake.mean(0) - real.mean(0)).norm())
        return [MetricValue("mean_shift", value, higher_is_better=False, num_samples=64, reference_split=split)]


class InputNoise(Technique):
    """Gaussian noise of fixed std on every discriminator input, from the technique stream."""

    name = "multi_input_noise"
    paper = "Arjovsky, M. and Bottou, L. (2017). Towards Principled Methods for Training GANs. ICLR."
    defaults = {"multi_noise_std": 0.05}
    hparam_docs = {"multi_noise_std": "std of the noise added to D's inputs"}

    def discriminator_input(self, x, ctx):
        gen = ctx.rng
        noise = torch.randn(x.shape, generator=gen, device=gen.device, dtype=x.dtype).to(x.device)
        return x + float(self.hparams["multi_noise_std"]) * noise


class PlainText(ReportFormat):
    """Every table as aligned plain text, in one file."""

    name = "multi_text"
    paper = "Knuth, D. E. (1984). Literate Programming. The Computer Journal."
    extension = "txt"

    def render(self, report, out_dir):
        lines = []
        for table in report.tables:
            lines += [table.title, " | ".join(c.label for c in table.columns)]
            lines += [" | ".join(cell.text for cell in row) for row in table.rows] + [""]
        path = os.path.join(out_dir, "leaderboard.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) or "no runs\n")
        return [path]


@hookimpl
def ganbench_register_losses(registry):
    registry.add(WassersteinLP)


@hookimpl
def ganbench_register_architectures(registry):
    registry.add(TinyMLP)


@hookimpl
def ganbench_register_metrics(registry):
    registry.add(MeanShift)


@hookimpl
def ganbench_register_techniques(registry):
    registry.add(InputNoise)


@hookimpl
def ganbench_register_report_formats(registry):
    registry.add(PlainText)
