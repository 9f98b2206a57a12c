"""A third-party plugin as a user would write it: one architecture and one loss."""

from torch import nn

from ganbench import hookimpl
from ganbench.api import Architecture, Loss


class ToyGenerator(nn.Module):
    conditional = False

    def __init__(self, z_dim, dim):
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(nn.Linear(z_dim, 16), nn.ReLU(), nn.Linear(16, dim), nn.Tanh())

    def forward(self, z, y=None):
        return self.net(z)


class ToyDiscriminator(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

    def forward(self, x, y=None):
        return self.net(x.flatten(1)).squeeze(1)


class ToyArch(Architecture):
    """A two-layer MLP pair for 2D points (test plugin)."""

    name = "toy_mlp"
    paper = "none (test plugin)"
    defaults = {"batch_size": 32, "z_dim": 2, "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.5, "beta2": 0.999, "n_critic": 1}

    @classmethod
    def supports(cls, data):
        return None if data.kind == "points" else "points only"

    def build(self, data, hparams):
        return ToyGenerator(hparams["z_dim"], data.shape[0]), ToyDiscriminator(data.shape[0])


class ToyLoss(Loss):
    """Least-squares loss written by a third party (test plugin)."""

    name = "toy_ls"
    paper = "none (test plugin)"

    def discriminator_loss(self, real_scores, fake_scores):
        return ((real_scores - 1) ** 2).mean() + (fake_scores ** 2).mean()

    def generator_loss(self, fake_scores, real_scores=None):
        return ((fake_scores - 1) ** 2).mean()


@hookimpl
def ganbench_register_architectures(registry):
    registry.add(ToyArch)


@hookimpl
def ganbench_register_losses(registry):
    registry.add(ToyLoss)


class RaisingLoss(ToyLoss):
    """A loss whose author made a mistake: it raises after a few steps (test plugin)."""

    name = "toy_raises"
    calls = 0

    def discriminator_loss(self, real_scores, fake_scores):
        RaisingLoss.calls += 1
        if RaisingLoss.calls > 5:
            raise RuntimeError("toy_raises: deliberate failure")
        return super().discriminator_loss(real_scores, fake_scores)


class NaNLoss(ToyLoss):
    """A loss that diverges: its discriminator loss becomes NaN after 12 updates (test plugin)."""

    name = "toy_nan"

    def __init__(self, hparams):
        super().__init__(hparams)
        self.calls = 0

    def discriminator_loss(self, real_scores, fake_scores):
        self.calls += 1
        loss = super().discriminator_loss(real_scores, fake_scores)
        return loss * float("nan") if self.calls > 12 else loss


@hookimpl(specname="ganbench_register_losses")
def register_failing_losses(registry):
    registry.add(RaisingLoss)
    registry.add(NaNLoss)


@hookimpl
def ganbench_register_commands(cli):
    import click

    @cli.command("toy-hello")
    def toy_hello():
        """A command added by a plugin."""
        click.echo("hello from ganbench-toy")


@hookimpl
def ganbench_run_end(spec, result, run_dir):
    """Observers see every finished run; this one logs it where the test asks."""
    import os
    log = os.environ.get("GANBENCH_TOY_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{spec['name']} {result['status']}\n")
