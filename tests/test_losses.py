"""The built-in losses: the shared contract, plus each formula against a closed form.

The closed forms are computed here with numpy from the papers' definitions (written naively, with
sigmoids and logs, on moderate scores), independently of the softplus forms the plugins use.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from ganbench.contracts.loss import LossContract
from ganbench.plugins import load

LOSSES = ["minimax", "nonsaturating", "wgan", "wgan_gp", "lsgan", "hinge", "rsgan", "ragan", "dragan", "r1"]


class TestMinimax(LossContract):
    loss_name = "minimax"


class TestNonSaturating(LossContract):
    loss_name = "nonsaturating"


class TestWGAN(LossContract):
    loss_name = "wgan"


class TestWGANGP(LossContract):
    loss_name = "wgan_gp"


class TestLSGAN(LossContract):
    loss_name = "lsgan"


class TestHinge(LossContract):
    loss_name = "hinge"


class TestRSGAN(LossContract):
    loss_name = "rsgan"


class TestRaGAN(LossContract):
    loss_name = "ragan"


class TestDRAGAN(LossContract):
    loss_name = "dragan"


class TestR1(LossContract):
    loss_name = "r1"


# ---------------------------------------------------------------------------------------------------
# Closed forms.

@pytest.fixture(scope="module")
def losses():
    return load(only=LOSSES).losses


def make(losses, name, **hparams):
    cls = losses.get(name)
    return cls({**cls.defaults, **hparams})


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


R = np.array([1.3, -0.4, 0.2, 2.5, -1.7, 0.9])
F_ = np.array([-0.8, 0.6, -2.1, 0.1, 1.4, -0.3])


def scores():
    return torch.tensor(R, dtype=torch.float32), torch.tensor(F_, dtype=torch.float32)


def close(value, expected):
    assert float(torch.as_tensor(value).detach()) == pytest.approx(float(expected), rel=1e-5, abs=1e-6)


def test_all_builtin_losses_are_registered(losses):
    assert losses.names() == sorted(LOSSES)


@pytest.mark.parametrize("name", ["minimax", "nonsaturating", "dragan", "r1"])
@pytest.mark.parametrize("real_label", [1.0, 0.9])
def test_bce_discriminator_loss(losses, name, real_label):
    loss = make(losses, name, real_label=real_label)
    p_real, p_fake = sigmoid(R), sigmoid(F_)
    expected = (-np.mean(real_label * np.log(p_real) + (1 - real_label) * np.log(1 - p_real))
                - np.mean(np.log(1 - p_fake)))
    close(loss.discriminator_loss(*scores()), expected)


def test_minimax_generator_loss_saturates(losses):
    loss = make(losses, "minimax")
    close(loss.generator_loss(scores()[1]), np.mean(np.log(1 - sigmoid(F_))))


@pytest.mark.parametrize("name", ["nonsaturating", "dragan", "r1"])
def test_nonsaturating_generator_loss(losses, name):
    close(make(losses, name).generator_loss(scores()[1]), -np.mean(np.log(sigmoid(F_))))


@pytest.mark.parametrize("name", ["wgan", "wgan_gp"])
def test_wasserstein_losses(losses, name):
    loss = make(losses, name)
    close(loss.discriminator_loss(*scores()), F_.mean() - R.mean())
    close(loss.generator_loss(scores()[1]), -F_.mean())


def test_hinge(losses):
    loss = make(losses, "hinge")
    close(loss.discriminator_loss(*scores()), np.maximum(0, 1 - R).mean() + np.maximum(0, 1 + F_).mean())
    close(loss.generator_loss(scores()[1]), -F_.mean())


@pytest.mark.parametrize("a,b,c", [(0.0, 1.0, 1.0), (-1.0, 1.0, 0.0)])
def test_lsgan(losses, a, b, c):
    loss = make(losses, "lsgan", lsgan_a=a, lsgan_b=b, lsgan_c=c)
    close(loss.discriminator_loss(*scores()), 0.5 * np.mean((R - b) ** 2) + 0.5 * np.mean((F_ - a) ** 2))
    close(loss.generator_loss(scores()[1]), 0.5 * np.mean((F_ - c) ** 2))


def test_lsgan_defaults_are_the_0_1_1_coding(losses):
    assert dict(losses.get("lsgan").defaults) == {"lsgan_a": 0.0, "lsgan_b": 1.0, "lsgan_c": 1.0}


def test_rsgan(losses):
    loss = make(losses, "rsgan")
    close(loss.discriminator_loss(*scores()), -np.mean(np.log(sigmoid(R - F_))))
    close(loss.generator_loss(scores()[1], scores()[0]), -np.mean(np.log(sigmoid(F_ - R))))


def test_ragan(losses):
    loss = make(losses, "ragan")
    d_real, d_fake = sigmoid(R - F_.mean()), sigmoid(F_ - R.mean())
    close(loss.discriminator_loss(*scores()), -np.mean(np.log(d_real)) - np.mean(np.log(1 - d_fake)))
    close(loss.generator_loss(scores()[1], scores()[0]), -np.mean(np.log(d_fake)) - np.mean(np.log(1 - d_real)))


def test_relativistic_losses_refuse_what_they_cannot_pair(losses):
    real, fake = scores()
    with pytest.raises(ValueError, match="real"):
        make(losses, "rsgan").generator_loss(fake, None)
    with pytest.raises(ValueError, match="real"):
        make(losses, "ragan").generator_loss(fake, None)
    with pytest.raises(ValueError, match="shape"):
        make(losses, "rsgan").discriminator_loss(real, fake[:, None])


# ---------------------------------------------------------------------------------------------------
# Penalties on critics whose input gradient is known in closed form.

class LinearCritic(nn.Module):
    """D(x) = w . x + b: its input gradient is w everywhere."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.b = nn.Parameter(torch.tensor(0.3, dtype=w.dtype))

    def forward(self, x, y=None):
        return x.flatten(1) @ self.w + self.b


class QuadraticCritic(nn.Module):
    """D(x) = ||x||^2 / 2: its input gradient is x itself. Records what it was shown."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(1.0, dtype=torch.float64))
        self.seen: list[torch.Tensor] = []

    def forward(self, x, y=None):
        self.seen.append(x.detach().clone())
        return 0.5 * self.scale * x.flatten(1).pow(2).sum(dim=1)


def seeded(seed=7):
    """The ``rng`` a penalty draws from (the trainer passes the run's penalty stream)."""
    return torch.Generator().manual_seed(seed)


def penalty_batch(shape=(6, 1, 3, 3), seed=0):
    gen = torch.Generator().manual_seed(seed)
    real = torch.randn(shape, generator=gen, dtype=torch.float64)
    fake = torch.randn(shape, generator=gen, dtype=torch.float64)
    return real, fake


W = torch.tensor([0.6, -1.2, 0.3, 0.0, 2.0, -0.1, 0.5, 0.7, -0.9], dtype=torch.float64)


@pytest.mark.parametrize("name", ["wgan_gp", "dragan"])
@pytest.mark.parametrize("lam", [None, 3.0])
def test_one_centred_penalties_on_a_linear_critic(losses, name, lam):
    loss = make(losses, name) if lam is None else make(losses, name, gp_lambda=lam)
    real, fake = penalty_batch()
    expected = (10.0 if lam is None else lam) * (np.linalg.norm(W.numpy()) - 1) ** 2
    close(loss.penalty(LinearCritic(W), real, fake, None, seeded()), expected)


@pytest.mark.parametrize("gamma", [None, 0.1])
def test_r1_on_a_linear_critic(losses, gamma):
    loss = make(losses, "r1") if gamma is None else make(losses, "r1", r1_gamma=gamma)
    real, fake = penalty_batch()
    expected = (10.0 if gamma is None else gamma) / 2 * np.sum(W.numpy() ** 2)
    close(loss.penalty(LinearCritic(W), real, fake, None, seeded()), expected)


def test_r1_is_measured_on_real_data(losses):
    real, fake = penalty_batch()
    D = QuadraticCritic()
    value = make(losses, "r1").penalty(D, real, fake, None, seeded())
    sq_norms = real.flatten(1).pow(2).sum(dim=1).numpy()
    close(value, 10.0 / 2 * sq_norms.mean())
    assert all(torch.equal(x, real) for x in D.seen)


def test_wgan_gp_interpolates_each_pair_with_its_own_coefficient(losses):
    real, fake = penalty_batch()
    D = QuadraticCritic()
    value = make(losses, "wgan_gp").penalty(D, real, fake, None, seeded())
    (x_hat,) = D.seen
    # x_hat - fake = a * (real - fake) with one a per sample, shared by all its coordinates.
    alpha = ((x_hat - fake).flatten(1) / (real - fake).flatten(1)).numpy()
    assert np.allclose(alpha, alpha[:, :1], atol=1e-9)
    assert ((alpha >= 0) & (alpha <= 1)).all()
    assert np.unique(alpha[:, 0].round(9)).size == alpha.shape[0]
    norms = np.linalg.norm(x_hat.flatten(1).numpy(), axis=1)
    close(value, 10.0 * np.mean((norms - 1) ** 2))


def test_wgan_gp_refuses_unpaired_batches(losses):
    real, fake = penalty_batch()
    with pytest.raises(ValueError, match="shape"):
        make(losses, "wgan_gp").penalty(LinearCritic(W), real, fake[:3], None, seeded())


def test_dragan_perturbs_real_data_within_half_a_standard_deviation(losses):
    real, fake = penalty_batch()
    D = QuadraticCritic()
    value = make(losses, "dragan").penalty(D, real, fake, None, seeded())
    (x_hat,) = D.seen
    step = (x_hat - real).numpy()
    assert (step >= 0).all() and (step <= 0.5 * float(real.std()) + 1e-12).all()
    assert (step > 0).any()
    norms = np.linalg.norm(x_hat.flatten(1).numpy(), axis=1)
    close(value, 10.0 * np.mean((norms - 1) ** 2))


def test_penalties_follow_their_rng_and_leave_the_global_rng_alone(losses):
    real, fake = penalty_batch()
    for name in ("wgan_gp", "dragan"):
        loss, D = make(losses, name), QuadraticCritic()
        a = loss.penalty(D, real, fake, None, seeded(1))
        torch.manual_seed(99)  # the global RNG does not matter
        rng = seeded(1)
        b = loss.penalty(D, real, fake, None, rng)
        c = loss.penalty(D, real, fake, None, rng)  # the stream moved on
        assert torch.equal(a, b) and not torch.equal(a, c)
        before = torch.get_rng_state()
        loss.penalty(D, real, fake, None, seeded(2))
        assert torch.equal(torch.get_rng_state(), before)


# ---------------------------------------------------------------------------------------------------
# WGAN's clipping and the optimisers and hyperparameters the papers pair with each loss.

@pytest.mark.parametrize("clip", [None, 0.05])
def test_wgan_clipping_bounds_every_weight(losses, clip):
    loss = make(losses, "wgan") if clip is None else make(losses, "wgan", clip=clip)
    c = 0.01 if clip is None else clip
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    with torch.no_grad():
        for p in D.parameters():
            p.copy_(torch.randn_like(p) * 2 * c)
    before = [p.detach().clone() for p in D.parameters()]
    loss.after_discriminator_step(D)
    for old, new in zip(before, D.parameters()):
        assert (new.abs() <= c).all()
        inside = old.abs() <= c
        assert torch.equal(new[inside], old[inside])
        assert torch.equal(new[~inside], old[~inside].sign() * c)
    assert any((old.abs() > c).any() for old in before)


def test_paper_hyperparameters(losses):
    assert dict(losses.get("wgan").defaults) == {"n_critic": 5, "lr_g": 5e-5, "lr_d": 5e-5, "clip": 0.01}
    assert dict(losses.get("wgan_gp").defaults) == {
        "n_critic": 5, "gp_lambda": 10.0, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9}
    assert losses.get("dragan").defaults["gp_lambda"] == 10.0
    assert losses.get("dragan").defaults["dragan_c"] == 0.5
    assert losses.get("r1").defaults["r1_gamma"] == 10.0


def test_optimisers(losses):
    params = [nn.Parameter(torch.zeros(3))]
    rms = make(losses, "wgan").make_optimizer(params, 5e-5, (0.5, 0.999))
    assert isinstance(rms, torch.optim.RMSprop) and rms.param_groups[0]["lr"] == 5e-5
    adam = make(losses, "wgan_gp").make_optimizer(params, 1e-4, (0.0, 0.9))
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["betas"] == (0.0, 0.9)


def test_label_smoothing_is_offered_by_the_bce_losses(losses):
    accepting = sorted(name for name in LOSSES if losses.get(name).accepts_label_smoothing)
    assert accepting == ["dragan", "minimax", "nonsaturating", "r1"]
    relativistic = sorted(name for name in LOSSES if losses.get(name).needs_real_for_generator)
    assert relativistic == ["ragan", "rsgan"]


def test_penalty_gradient_reaches_the_critic_weights(losses):
    # d/dw of lambda (||w|| - 1)^2 is 2 lambda (||w|| - 1) w / ||w||: only reachable with create_graph.
    real, fake = penalty_batch()
    D = LinearCritic(W)
    make(losses, "wgan_gp").penalty(D, real, fake, None, seeded()).backward()
    norm = float(W.norm())
    expected = 2 * 10.0 * (norm - 1) * W / norm
    assert torch.allclose(D.w.grad, expected, rtol=1e-9)
    assert math.isclose(float(D.b.grad or 0.0), 0.0)


# ---------------------------------------------------------------------------------------------------
# Lazy regularisation (penalty_every): the penalty every k-th step, k times as heavy

def test_lazy_regularisation_adds_k_times_the_penalty_every_kth_step_only():
    from ganbench.api import DataInfo
    from ganbench.testing.technique import TinyArchitecture, TinyBCELoss
    from ganbench.training import Trainer

    class Spied(TinyBCELoss):
        calls: list = []

        def penalty(self, discriminator, real, fake, labels, rng):
            value = torch.rand((), generator=rng) + 1.0
            self.calls.append(float(value))
            return value

    data = DataInfo(shape=(2,), kind="points")
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    losses = {}
    for k in (1, 4):
        hp = {**TinyArchitecture.defaults, "n_critic": 2, "penalty_every": k}
        Spied.calls = []
        trainer = Trainer(TinyArchitecture(), Spied(hp), [], data, x, None, hp, seed=0)
        added = []
        real_penalty = trainer.penalty
        trainer.penalty = lambda *a, **kw: added.append(real_penalty(*a, **kw)) or added[-1]
        for _ in range(8):
            trainer.step()
        losses[k] = (list(Spied.calls), added)
    calls_1, added_1 = losses[1]
    calls_4, added_4 = losses[4]
    assert len(calls_1) == 16 and len(calls_4) == 4          # steps 0 and 4, two D updates each
    assert [a is None for a in added_4] == [False, False] + [True] * 6 + [False, False] + [True] * 6
    assert [float(a) for a in added_4 if a is not None] == pytest.approx([4 * c for c in calls_4])
    assert [float(a) for a in added_1] == pytest.approx(calls_1)
