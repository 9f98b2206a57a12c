"""The contract every technique plugin must satisfy.

Subclass :class:`TechniqueContract` in your plugin's tests::

    from ganbench.testing import TechniqueContract

    class TestMyTrick(TechniqueContract):
        plugin = MyTrick                    # or plugin_name = "my_trick" for an installed one
        hparams_override = {"my_steps": 1}  # optional: keep the test tiny

The tests train a tiny architecture and loss defined here (not any installed one), so a technique is
checked on its own: it is registered through a plugin host, documented, trains with finite
losses, is deterministic for a seed, never draws from the global RNG during steps, and resumes
bit-identically from a state saved with ``torch.save`` and read back with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, ClassVar, Mapping

import torch
from torch import nn
import torch.nn.functional as F

from ganbench.api import Architecture, DataInfo, Loss, Technique
from ganbench.testing.common import PluginContract, expect, through_a_checkpoint

IMAGE_DATA = DataInfo(shape=(3, 8, 8), kind="image")
POINTS_DATA = DataInfo(shape=(2,), kind="points")


# ---------------------------------------------------------------------------------------------------
# A tiny architecture and loss, so that technique tests depend on no other plugin.

class TinyGenerator(nn.Module):
    def __init__(self, data: DataInfo, z_dim: int):
        super().__init__()
        self.z_dim = z_dim
        self.shape = tuple(data.shape)
        out = math.prod(self.shape)
        self.net = nn.Sequential(nn.Linear(z_dim, 16), nn.ReLU(), nn.Linear(16, out), nn.Tanh())

    def forward(self, z, y=None):
        return self.net(z).view(z.shape[0], *self.shape)


class TinyDiscriminator(nn.Module):
    """A convolution for images (a linear layer for points), then a linear head; exposes ``features``."""

    def __init__(self, data: DataInfo):
        super().__init__()
        if data.is_image:
            c, h, w = data.shape
            self.trunk = nn.Sequential(nn.Conv2d(c, 4, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                                       nn.Flatten())
            width = 4 * ((h + 1) // 2) * ((w + 1) // 2)
        else:
            self.trunk = nn.Sequential(nn.Linear(math.prod(data.shape), 16), nn.LeakyReLU(0.2))
            width = 16
        self.head = nn.Linear(width, 1)

    def features(self, x, y=None):
        return self.trunk(x)

    def forward(self, x, y=None):
        return self.head(self.features(x, y)).reshape(-1)


class TinyArchitecture(Architecture):
    """A two-layer generator and discriminator for contract tests."""

    name = "contract_tiny"
    discriminator_features = True
    defaults = {"batch_size": 8, "z_dim": 4, "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.5, "beta2": 0.999,
                "n_critic": 1}

    def build(self, data, hparams):
        return TinyGenerator(data, int(hparams["z_dim"])), TinyDiscriminator(data)


class TinyBCELoss(Loss):
    """Non-saturating BCE on logits, with a smoothable real target."""

    name = "contract_bce"
    accepts_label_smoothing = True

    def discriminator_loss(self, real_scores, fake_scores):
        real_target = torch.full_like(real_scores, float(self.hparams.get("real_label", 1.0)))
        return (F.binary_cross_entropy_with_logits(real_scores, real_target)
                + F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores)))

    def generator_loss(self, fake_scores, real_scores=None):
        return F.binary_cross_entropy_with_logits(fake_scores, torch.ones_like(fake_scores))


def merged_hparams(architecture: type[Architecture], loss: type[Loss], technique: type[Technique],
                   overrides: Mapping[str, Any] = ()) -> dict[str, Any]:
    """Architecture, loss and technique defaults, then overrides: the runner's merge order."""
    return {**architecture.defaults, **loss.defaults, **technique.defaults, **dict(overrides)}


def make_train_data(data: DataInfo, n: int = 32, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, *data.shape, generator=gen) * 2 - 1


def hash_tensors(obj: Any) -> str:
    """sha256 over every tensor and plain value of a nested state, in a stable order."""
    h = hashlib.sha256()

    def visit(o):
        if isinstance(o, torch.Tensor):
            h.update(str((o.dtype, tuple(o.shape))).encode())
            h.update(o.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(o, Mapping):
            for k in sorted(o, key=str):
                h.update(str(k).encode())
                visit(o[k])
        elif isinstance(o, (list, tuple)):
            for item in o:
                visit(item)
        else:
            h.update(repr(o).encode())

    visit(obj)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------

class TechniqueContract(PluginContract):
    """pytest mixin: set ``plugin`` (or ``plugin_name``), optionally the attributes below."""

    kind = "techniques"
    legacy_name_attr = "technique_name"
    legacy_entry_point = True
    data_info: ClassVar[DataInfo] = IMAGE_DATA         # shape of the test data
    hparam_overrides: ClassVar[Mapping[str, Any]] = {}  # old spelling of hparams_override
    seed: ClassVar[int] = 1234

    # -- helpers -----------------------------------------------------------------------------------
    @classmethod
    def technique_class(cls) -> type[Technique]:
        return cls.plugin_class()

    @classmethod
    def make_trainer(cls, technique: type[Technique] | None = None, seed: int | None = None):
        from ganbench.training import Trainer
        technique = technique or cls.technique_class()
        hparams = merged_hparams(TinyArchitecture, TinyBCELoss, technique,
                                 {**cls.hparam_overrides, **cls.hparams_override})
        return Trainer(TinyArchitecture(), TinyBCELoss(hparams), [technique(hparams)], cls.data_info,
                       make_train_data(cls.data_info), None, hparams, cls.seed if seed is None else seed)

    @classmethod
    def _supported_or_skip(cls, technique):
        import pytest
        reason = technique.supports(TinyArchitecture, TinyBCELoss, cls.data_info)
        if reason is not None:
            pytest.skip(f"{cls.name_under_test()} refuses the contract's test setting: {reason}")

    @staticmethod
    def fingerprint(trainer) -> tuple[str, str, str]:
        """Weights, the evaluated generator, and the technique states."""
        return (trainer.weights_hash(), hash_tensors(trainer.evaluation_generator().state_dict()),
                hash_tensors([t.state_dict() for t in trainer.techniques]))

    # -- tests -------------------------------------------------------------------------------------
    def test_supports_answers_none_or_reason(self):
        technique = self.technique_class()
        for data in (IMAGE_DATA, POINTS_DATA, self.data_info):
            reason = technique.supports(TinyArchitecture, TinyBCELoss, data)
            expect(reason is None or (isinstance(reason, str) and reason.strip()),
                   f"supports(..., {data}) to return None or a non-empty reason", reason)

    def test_trains_with_finite_losses(self):
        technique = self.technique_class()
        self._supported_or_skip(technique)
        trainer = self.make_trainer(technique)
        for _ in range(3):
            losses = trainer.step()
            for key, value in losses.items():
                assert torch.isfinite(value).all(), f"{key} = {value} is not finite"
        assert trainer.steps_done == 3

    def test_same_seed_same_weights(self):
        technique = self.technique_class()
        self._supported_or_skip(technique)
        runs = []
        for _ in range(2):
            trainer = self.make_trainer(technique)
            trainer.step()
            trainer.step()
            runs.append(self.fingerprint(trainer))
        expect(runs[0] == runs[1], "the same (weights, evaluated G, technique state) hashes for one seed",
               runs)

    def test_steps_leave_global_rng_alone(self):
        """Training randomness belongs to ctx.rng: the global RNG is for weight initialisation only
        (the tiny architecture has no dropout, so any draw during a step is the technique's)."""
        technique = self.technique_class()
        self._supported_or_skip(technique)
        trainer = self.make_trainer(technique)
        before = torch.get_rng_state()
        trainer.step()
        trainer.step()
        expect(torch.equal(before, torch.get_rng_state()),
               "training steps to leave the global torch RNG alone (draw from ctx.rng)")

    def test_state_round_trip(self):
        technique = self.technique_class()
        self._supported_or_skip(technique)
        straight = self.make_trainer(technique)
        for _ in range(4):
            straight.step()

        first = self.make_trainer(technique)
        first.step()
        first.step()
        state = through_a_checkpoint(first.state_dict())
        resumed = self.make_trainer(technique, seed=self.seed + 1)  # everything must come from the state
        resumed.seed = self.seed  # the data order is a function of the seed, which a run stores in its spec
        resumed.load_state_dict(state)
        resumed.step()
        resumed.step()
        expect(self.fingerprint(resumed) == self.fingerprint(straight),
               "a resumed run bit-identical to a straight one (state_dict/load_state_dict)",
               (self.fingerprint(resumed), self.fingerprint(straight)))
