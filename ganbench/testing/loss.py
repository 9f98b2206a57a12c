"""The contract every :class:`ganbench.api.Loss` plugin must meet, as a pytest mixin.

Subclass it in your plugin's tests and name the loss::

    from ganbench.testing import LossContract

    class TestMyLoss(LossContract):
        plugin = MyLoss             # or plugin_name = "my_loss" (+ entry_point) for an installed one

Nothing here knows the
formula of any particular loss: the checks use only what the API promises (scores are logits where
higher means "more real"; penalties are non-negative terms added to the discriminator loss).
"""

from __future__ import annotations

import io
import json
import math
import re
from typing import Any, ClassVar

import pytest
import torch
from torch import nn

from ganbench.api import Architecture, DataInfo, Loss
from ganbench.testing.common import PluginContract, expect

SHAPES = {"points": (2,), "images": (1, 4, 4)}
NUM_CLASSES = 3


def penalty_rng(seed: int = 0, device: str = "cpu") -> torch.Generator:
    """A seeded generator for :meth:`Loss.penalty`'s ``rng`` (the trainer passes the run's penalty stream)."""
    return torch.Generator(device=device).manual_seed(seed)


class ToyCritic(nn.Module):
    """A small smooth critic: Softplus keeps second derivatives non-zero, so a penalty built with
    ``create_graph=True`` reaches every first-layer weight. Labels add a projection term."""

    def __init__(self, in_features: int, num_classes: int = NUM_CLASSES, hidden: int = 8):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.Softplus(),
                                  nn.Linear(hidden, hidden), nn.Softplus())
        self.head = nn.Linear(hidden, 1)
        self.embed = nn.Embedding(num_classes, hidden)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(x)
        out = self.head(h).squeeze(1)
        if y is not None:
            out = out + (self.embed(y) * h).sum(dim=1)
        return out


class ToyGenerator(nn.Module):
    def __init__(self, z_dim: int, shape: tuple[int, ...]):
        super().__init__()
        self.shape = shape
        self.net = nn.Linear(z_dim, math.prod(shape))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.net(z)).reshape(z.shape[0], *self.shape)


class ToyArchitecture(Architecture):
    """A linear generator and a two-layer critic on 2D points (contract tests only; never registered)."""

    name = "contract_toy"
    defaults = {"batch_size": 16, "z_dim": 4, "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.5, "beta2": 0.999}

    def build(self, data, hparams):
        return ToyGenerator(int(hparams["z_dim"]), data.shape), ToyCritic(math.prod(data.shape))


class LossContract(PluginContract):
    """Mixin of contract tests for one loss. Set ``plugin`` (or ``plugin_name``)."""

    kind = "losses"
    legacy_name_attr = "loss_name"
    legacy_entry_point = True
    batch_size: ClassVar[int] = 8

    # -- fixtures -----------------------------------------------------------------------------------
    # Class-scoped, so each subclass loads the host once; classmethods because pytest shares no
    # instance between the tests of a class.
    @pytest.fixture(scope="class")
    @classmethod
    def host(cls):
        return cls.plugin_host()

    @pytest.fixture(scope="class")
    @classmethod
    def loss_cls(cls, host) -> type[Loss]:
        return cls.plugin_class()

    @pytest.fixture
    def loss(self, loss_cls) -> Loss:
        # The trainer builds a loss from merged hyperparameters, the loss's own defaults among them.
        return loss_cls(dict(loss_cls.defaults))

    def confused_scores(self, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores of a discriminator that has it backwards (reals low, fakes high): any sensible
        loss must then push real scores up and fake scores down."""
        gen = torch.Generator().manual_seed(seed)
        real = -0.5 + 0.1 * torch.randn(self.batch_size, generator=gen)
        fake = 0.5 + 0.1 * torch.randn(self.batch_size, generator=gen)
        return real, fake

    def generator_loss(self, loss: Loss, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        # Mirrors the trainer: real scores only reach losses that ask for them.
        return loss.generator_loss(fake, real if loss.needs_real_for_generator else None)

    def batch(self, kind: str, seed: int = 0, device: str = "cpu"):
        gen = torch.Generator().manual_seed(seed)
        shape = (self.batch_size, *SHAPES[kind])
        real = torch.randn(shape, generator=gen).clamp(-1, 1)
        fake = torch.randn(shape, generator=gen).clamp(-1, 1)
        labels = torch.randint(NUM_CLASSES, (self.batch_size,), generator=gen)
        return real.to(device), fake.to(device), labels.to(device)

    # -- identity -----------------------------------------------------------------------------------
    def test_defaults_are_plain_values(self, loss_cls):
        # Defaults are merged into the run's hyperparameters and stored with the results as JSON.
        defaults = dict(loss_cls.defaults)
        assert all(isinstance(k, str) for k in defaults)
        assert json.loads(json.dumps(defaults)) == defaults
        if "n_critic" in defaults:
            assert isinstance(defaults["n_critic"], int) and defaults["n_critic"] >= 1
        for key in ("lr_g", "lr_d"):
            if key in defaults:
                assert defaults[key] > 0
        for key in ("beta1", "beta2"):
            if key in defaults:
                assert 0 <= defaults[key] < 1

    # -- the two adversarial losses -----------------------------------------------------------------
    def test_losses_are_finite_scalars_with_gradients(self, loss):
        real, fake = self.confused_scores()
        real.requires_grad_(True)
        fake.requires_grad_(True)
        d_loss = loss.discriminator_loss(real, fake)
        assert d_loss.dim() == 0 and d_loss.dtype == torch.float32 and torch.isfinite(d_loss)
        g_real, g_fake = torch.autograd.grad(d_loss, (real, fake))
        assert torch.isfinite(g_real).all() and torch.isfinite(g_fake).all()
        assert g_real.abs().sum() > 0 and g_fake.abs().sum() > 0

        g_loss = self.generator_loss(loss, fake, real)
        assert g_loss.dim() == 0 and g_loss.dtype == torch.float32 and torch.isfinite(g_loss)
        (g_fake,) = torch.autograd.grad(g_loss, (fake,))
        assert torch.isfinite(g_fake).all() and g_fake.abs().sum() > 0

    def test_losses_stay_finite_for_extreme_scores(self, loss):
        real = torch.tensor([-80.0, 80.0, 0.0, -30.0], requires_grad=True)
        fake = torch.tensor([80.0, -80.0, 30.0, 0.0], requires_grad=True)
        for value in (loss.discriminator_loss(real, fake), self.generator_loss(loss, fake, real)):
            assert torch.isfinite(value)
            grads = torch.autograd.grad(value, (real, fake), allow_unused=True)
            assert all(g is None or torch.isfinite(g).all() for g in grads)

    def test_discriminator_loss_rewards_telling_real_from_fake(self, loss):
        real, fake = self.confused_scores()
        real.requires_grad_(True)
        fake.requires_grad_(True)
        before = loss.discriminator_loss(real, fake)
        g_real, g_fake = torch.autograd.grad(before, (real, fake))
        assert (g_real <= 0).all() and g_real.sum() < 0, "raising real scores must not increase D's loss"
        assert (g_fake >= 0).all() and g_fake.sum() > 0, "lowering fake scores must not increase D's loss"
        with torch.no_grad():
            after = loss.discriminator_loss(real + 0.1, fake - 0.1)
        assert after < before

    def test_generator_loss_rewards_fooling_the_discriminator(self, loss):
        real, fake = self.confused_scores()
        fake = (fake - 2.0).requires_grad_(True)   # D currently wins: fakes (about -1.5) score below reals
        before = self.generator_loss(loss, fake, real)
        (g_fake,) = torch.autograd.grad(before, (fake,))
        assert (g_fake <= 0).all() and g_fake.sum() < 0, "raising fake scores must not increase G's loss"
        with torch.no_grad():
            after = self.generator_loss(loss, fake + 0.1, real)
        assert after < before

    def test_generator_uses_real_scores_only_when_it_says_so(self, loss):
        real, fake = self.confused_scores()
        if loss.needs_real_for_generator:
            other = real + 1.0
            assert not torch.equal(loss.generator_loss(fake, real), loss.generator_loss(fake, other))
        else:
            # The trainer passes None here; a loss that secretly needed reals would break.
            assert torch.equal(loss.generator_loss(fake, None), loss.generator_loss(fake, real))

    def test_label_smoothing_flag_is_honest(self, loss_cls):
        real, fake = self.confused_scores()
        plain = loss_cls({**loss_cls.defaults, "real_label": 1.0})
        smoothed = loss_cls({**loss_cls.defaults, "real_label": 0.9})
        d_plain, d_smoothed = plain.discriminator_loss(real, fake), smoothed.discriminator_loss(real, fake)
        d_changed = not torch.equal(d_plain, d_smoothed)
        assert d_changed == loss_cls.accepts_label_smoothing, (
            "accepts_label_smoothing must be True exactly when hparams['real_label'] changes the D loss")
        # One-sided: the generator's objective never moves.
        assert torch.equal(self.generator_loss(plain, fake, real), self.generator_loss(smoothed, fake, real))

    # -- penalty --------------------------------------------------------------------------------------
    @pytest.mark.parametrize("conditional", [False, True], ids=["unconditional", "conditional"])
    @pytest.mark.parametrize("kind", sorted(SHAPES))
    def test_penalty_is_a_differentiable_non_negative_scalar(self, loss, kind, conditional):
        torch.manual_seed(0)
        real, fake, labels = self.batch(kind)
        D = ToyCritic(math.prod(SHAPES[kind]))
        real_copy, fake_copy = real.clone(), fake.clone()
        penalty = loss.penalty(D, real, fake, labels if conditional else None, penalty_rng())
        if penalty is None:
            pytest.skip(f"{self.name_under_test()} has no penalty")
        expect(isinstance(penalty, torch.Tensor) and penalty.dim() == 0, "a 0-dim tensor from penalty()",
               getattr(penalty, "shape", penalty))
        expect(torch.isfinite(penalty) and penalty >= 0, "a finite, non-negative penalty", float(penalty.detach()))
        expect(torch.equal(real, real_copy) and torch.equal(fake, fake_copy), "penalty() to leave its inputs unmodified")
        expect(all(p.grad is None for p in D.parameters()), "penalty() not to call backward() itself")
        expect(penalty.requires_grad, "a penalty differentiable w.r.t. D's weights (create_graph=True)")
        penalty.backward()
        grads = [p.grad for p in D.body.parameters()]
        expect(all(g is None or torch.isfinite(g).all() for g in grads), "finite gradients of the penalty")
        # A one-sided penalty (WGAN-LP, a hinge on the gradient norm) is correctly zero, with zero
        # gradient, at a fresh critic; only a positive penalty must reach D's weights.
        if penalty > 0:
            total = sum(float(g.abs().sum()) for g in grads if g is not None)
            expect(total > 0, "a positive penalty to have a non-zero gradient w.r.t. D's first layers", total)

    def test_penalty_is_active_on_a_steep_critic(self, loss):
        """Every gradient penalty in the literature grows with the critic's slope: on a critic whose
        weights are scaled up tenfold, the penalty must be positive and reach D's weights."""
        real, fake, labels = self.batch("points")
        torch.manual_seed(0)
        D = ToyCritic(math.prod(SHAPES["points"]))
        with torch.no_grad():
            for p in D.parameters():
                p.mul_(10.0)
        penalty = loss.penalty(D, real, fake, None, penalty_rng())
        if penalty is None:
            pytest.skip(f"{self.name_under_test()} has no penalty")
        expect(float(penalty.detach()) > 0, "a positive penalty on a steep critic (weights x10)", float(penalty.detach()))
        penalty.backward()
        total = sum(float(p.grad.abs().sum()) for p in D.body.parameters() if p.grad is not None)
        expect(total > 0, "the penalty's gradient to reach D's first layers", total)

    def test_penalty_draws_only_from_its_rng(self, loss):
        """The same ``rng`` state gives the same penalty whatever the global RNG holds, and the global
        RNG is left as it was: the run's penalty stream is saved in checkpoints, the global one is not
        the penalty's (a vectorised seed group shares it)."""
        real, fake, labels = self.batch("images")
        D = ToyCritic(math.prod(SHAPES["images"]))
        values = []
        for global_seed in (1234, 4321):
            torch.manual_seed(global_seed)
            before = torch.get_rng_state()
            penalty = loss.penalty(D, real, fake, labels, penalty_rng(7))
            expect(torch.equal(torch.get_rng_state(), before),
                   "penalty() to draw from its rng argument and leave the global RNG untouched")
            values.append(penalty)
        p1, p2 = values
        if p1 is None:
            pytest.skip(f"{self.name_under_test()} has no penalty")
        expect(torch.equal(p1, p2), "the same penalty from the same rng state (randomness from rng only)",
               f"{float(p1.detach())} then {float(p2.detach())}")

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
    def test_penalty_draws_on_the_data_device(self, loss):
        real, fake, labels = self.batch("images", device="cuda")
        D = ToyCritic(math.prod(SHAPES["images"])).cuda()
        cpu_state = torch.get_rng_state()
        penalty = loss.penalty(D, real, fake, labels, penalty_rng(device="cuda"))
        if penalty is None:
            pytest.skip(f"{self.name_under_test()} has no penalty")
        assert penalty.device.type == "cuda"
        assert torch.equal(torch.get_rng_state(), cpu_state), "CUDA data must not consume the CPU RNG"
        penalty.backward()

    # -- optimiser and post-step hook --------------------------------------------------------------
    def test_make_optimizer_returns_a_working_torch_optimizer(self, loss):
        D = ToyCritic(2)
        opt = loss.make_optimizer(D.parameters(), 1e-3, (0.5, 0.999))
        assert isinstance(opt, torch.optim.Optimizer)
        assert all(group["lr"] == 1e-3 for group in opt.param_groups)
        before = [p.detach().clone() for p in D.parameters()]
        D(torch.randn(4, 2)).sum().backward()
        opt.step()
        assert any(not torch.equal(b, p) for b, p in zip(before, D.parameters()))

    def test_after_discriminator_step_keeps_weights_finite(self, loss):
        D = ToyCritic(2)
        shapes = [p.shape for p in D.parameters()]
        loss.after_discriminator_step(D)
        assert [p.shape for p in D.parameters()] == shapes
        assert all(torch.isfinite(p).all() for p in D.parameters())

    # -- inside the real training loop -------------------------------------------------------------
    def make_trainer(self, loss_cls: type[Loss], seed: int = 0):
        from ganbench.training import Trainer

        data = DataInfo(shape=(2,), kind="points")
        hparams: dict[str, Any] = {**ToyArchitecture.defaults, **loss_cls.defaults}
        train_x = torch.randn(64, 2, generator=torch.Generator().manual_seed(seed)).clamp(-1, 1)
        return Trainer(ToyArchitecture(), loss_cls(hparams), [], data, train_x, None, hparams, seed=seed)

    def test_trains_in_the_training_loop(self, loss_cls):
        trainer = self.make_trainer(loss_cls)
        start = trainer.weights_hash()
        for _ in range(2):
            stats = trainer.step()
            assert all(torch.isfinite(v) for v in stats.values())
        assert trainer.weights_hash() != start

    def test_resume_is_bit_identical(self, loss_cls):
        trainer = self.make_trainer(loss_cls)
        trainer.step()
        buffer = io.BytesIO()
        torch.save(trainer.state_dict(), buffer)
        trainer.step()
        trainer.step()
        expected = trainer.weights_hash()

        resumed = self.make_trainer(loss_cls)
        buffer.seek(0)
        resumed.load_state_dict(torch.load(buffer, weights_only=True))
        resumed.step()
        resumed.step()
        assert resumed.weights_hash() == expected
