"""The contract every :class:`ganbench.api.Architecture` plugin must meet, as a pytest mixin.

Use it in your plugin's tests::

    from ganbench.testing import ArchitectureContract

    class TestMyGAN(ArchitectureContract):
        plugin = MyGAN                              # or plugin_name = "mygan" for an installed one
        hparams_override = {"ngf": 8, "ndf": 8}     # shrink widths: the checks only need the plumbing

Class attributes, besides those of :class:`~ganbench.testing.common.PluginContract`:

* ``data_infos``: the :class:`~ganbench.api.DataInfo` instances to test on. Default: the first of
  :data:`STANDARD_DATA` the architecture supports.
* ``batch_size``: the batch the checks use (at least 2, for BatchNorm).

Every test that builds networks takes a ``data_info`` argument, parametrised over ``data_infos``.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any, ClassVar, Mapping

import pytest
import torch
import torch.nn.functional as F

from ganbench.api import Architecture, DataInfo, Loss
from ganbench.testing.common import PluginContract, expect, installed_host

# Shapes of the embedded and the common online benchmark data, in the order a default is picked.
STANDARD_DATA: tuple[DataInfo, ...] = (
    DataInfo((2,), kind="points", num_modes=8),      # ring / grid mixtures
    DataInfo((1, 28, 28), num_classes=10),           # MNIST-5k
    DataInfo((1, 8, 8), num_classes=10),             # scikit-learn digits
    DataInfo((3, 28, 28), num_modes=1000),           # Stacked MNIST
    DataInfo((3, 32, 32), num_classes=10),           # CIFAR-10
    DataInfo((3, 64, 64)),                           # CelebA
)

TRAINER_KEYS = ("batch_size", "z_dim", "lr_g", "lr_d", "beta1", "beta2", "n_critic")

#: The installed plugin host (kept under its old name for existing imports).
plugin_host = installed_host


class ContractLoss(Loss):
    """Non-saturating logistic loss (Goodfellow et al., 2014), local to the contract so that it does not
    depend on any loss plugin being installed."""

    name = "contract_nonsaturating"
    paper = "Goodfellow, I. et al. (2014). Generative Adversarial Nets. NeurIPS 2014."

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()

    def generator_loss(self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None) -> torch.Tensor:
        return F.softplus(-fake_scores).mean()


def _core_defaults() -> dict[str, Any]:
    """The training loop's keys that the core gives a default (``api.CORE_HPARAMS``)."""
    from ganbench import api
    return {h.name: h.default for h in getattr(api, "CORE_HPARAMS", ()) if h.default is not None}


def _data_id(data: DataInfo) -> str:
    shape = "x".join(map(str, data.shape))
    return f"{data.kind}{shape}" + (f"c{data.num_classes}" if data.num_classes else "")


class ArchitectureContract(PluginContract):
    """Mixin of pytest tests; subclass it as ``Test<Something>`` and set ``plugin``."""

    kind = "architectures"
    legacy_name_attr = "architecture_name"
    data_infos: ClassVar[tuple[DataInfo, ...] | None] = None
    batch_size: ClassVar[int] = 4

    # -- plumbing ----------------------------------------------------------------------------------
    def pytest_generate_tests(self, metafunc):
        if "data_info" in metafunc.fixturenames:
            infos = list(type(self)._data_infos())
            metafunc.parametrize("data_info", infos, ids=[_data_id(d) for d in infos])

    @classmethod
    def _arch_class(cls) -> type[Architecture]:
        return cls.plugin_class()

    @classmethod
    def _data_infos(cls) -> tuple[DataInfo, ...]:
        if cls.data_infos is not None:
            return tuple(cls.data_infos)
        arch = cls._arch_class()
        for data in STANDARD_DATA:
            if arch.supports(data) is None:
                return (data,)
        raise AssertionError(f"{cls.name_under_test()} supports none of the standard shapes; set data_infos")

    def hparams(self) -> dict[str, Any]:
        # The core's defaults first (beta1, beta2, n_critic ...), as the runner applies them.
        return {**_core_defaults(), **self._arch_class().defaults, **self.hparams_override,
                "batch_size": self.batch_size}

    def build(self, data: DataInfo, seed: int = 0):
        torch.manual_seed(seed)
        return self._arch_class()().build(data, self.hparams())

    def inputs(self, G, data: DataInfo, n: int | None = None, seed: int = 1):
        """``(z, y)`` for ``G``: from ``G.sample_latent`` when it has one, else N(0, 1); y when conditional.
        A generator given an image (``generator_input`` other than noise) gets uniform images of
        ``G.input_shape`` in [-1, 1] as ``z``."""
        n = n or self.batch_size
        gen = torch.Generator().manual_seed(seed)
        if self._arch_class().generator_input != "noise":
            z = torch.rand(n, *G.input_shape, generator=gen) * 2 - 1
        elif hasattr(G, "sample_latent"):
            z = G.sample_latent(n, gen, "cpu")
        else:
            z = torch.randn(n, G.z_dim, generator=gen)
        y = None
        if self._arch_class().conditional:
            y = torch.arange(n) % data.num_classes  # every class appears when n >= num_classes
        return z, y

    def real(self, data: DataInfo, n: int | None = None, seed: int = 2) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        if data.kind == "tokens":   # whole token ids, as float (api.DataInfo)
            return torch.randint(data.vocab_size, (n or self.batch_size, *data.shape), generator=gen).float()
        return torch.rand(n or self.batch_size, *data.shape, generator=gen) * 2 - 1

    def judged(self, G, x, y, z=None, generator: torch.Generator | None = None):
        """D's second argument for samples ``x``: the labels ``y``, or, for an architecture declaring
        ``encoder``, the pair's latent code: ``z`` for fakes ``(G(z), z)``, ``G.encode(x, generator)``
        for real ``x``."""
        if self._arch_class().discriminator_sees_input:   # the generator's input, real or not
            if z is not None:
                return z
            gen = torch.Generator().manual_seed(6)
            return torch.rand(len(x), *G.input_shape, generator=gen) * 2 - 1
        if not self._arch_class().encoder:
            return y
        return z if z is not None else G.encode(x, generator)

    # -- metadata ----------------------------------------------------------------------------------
    def test_conditional_is_declared(self):
        conditional = self._arch_class().conditional
        expect(isinstance(conditional, bool), "`conditional` to be a bool", conditional)

    def test_defaults_hold_trainer_keys(self):
        defaults = {**_core_defaults(), **self._arch_class().defaults}
        # z ~ N(0, I) needs its size; a generator given an input or drawing its own latent does not
        noise = self._arch_class().generator_input == "noise" and not self._arch_class().samples_latent
        missing = [k for k in TRAINER_KEYS if k not in defaults and (noise or k != "z_dim")]
        expect(not missing, "`defaults` to give the training keys the core has no default for", missing)
        assert int(defaults["batch_size"]) > 0 and int(defaults["n_critic"]) >= 1
        assert not noise or int(defaults["z_dim"]) > 0
        assert float(defaults["lr_g"]) > 0 and float(defaults["lr_d"]) > 0

    def test_supports_answers_none_or_reason(self):
        cls = self._arch_class()
        for data in STANDARD_DATA + (DataInfo((3, 17, 23)), DataInfo((5,), kind="points")):
            answer = cls.supports(data)
            assert answer is None or (isinstance(answer, str) and answer.strip()), (data, answer)
        if cls.conditional:
            unlabelled = DataInfo((1, 28, 28), num_classes=0)
            assert isinstance(cls.supports(unlabelled), str), "a conditional architecture needs labels"

    def test_data_infos_are_supported(self, data_info):
        assert self._arch_class().supports(data_info) is None

    # -- modules -----------------------------------------------------------------------------------
    def test_generator_output(self, data_info):
        G, _ = self.build(data_info)
        if self._arch_class().generator_input == "noise":
            assert isinstance(G.z_dim, int) and G.z_dim > 0
        else:
            expect(isinstance(G.input_shape, tuple) and len(G.input_shape) == len(data_info.shape),
                   "G.input_shape, the shape of the image a generator given an image takes", G.input_shape)
        assert G.conditional is self._arch_class().conditional
        z, y = self.inputs(G, data_info)
        assert z.shape == (self.batch_size, *((G.z_dim,) if self._arch_class().generator_input == "noise"
                                               else G.input_shape))
        for mode in (G.train, G.eval):
            mode()
            with torch.no_grad():
                x = G(z, y)
            assert x.shape == (self.batch_size, *data_info.shape)
            assert x.dtype == torch.float32
            assert torch.isfinite(x).all()
            if data_info.is_image:  # points are in the protocol's own coordinates, unbounded
                assert x.min() >= -1 and x.max() <= 1
            if data_info.kind == "tokens":
                expect(bool((x == x.round()).all()) and x.min() >= 0 and x.max() < data_info.vocab_size,
                       f"whole token ids in [0, {data_info.vocab_size})", (float(x.min()), float(x.max())))

    def test_discriminator_output(self, data_info):
        G, D = self.build(data_info)
        z, y = self.inputs(G, data_info)
        x = self.real(data_info)
        for mode in (D.train, D.eval):
            mode()
            with torch.no_grad():
                scores = D(x, self.judged(G, x, y))
            assert scores.shape == (self.batch_size,)
            assert torch.isfinite(scores).all()
        if hasattr(D, "features"):
            with torch.no_grad():
                feats = D.features(x, y)
            assert feats.dim() == 2 and feats.shape[0] == self.batch_size and torch.isfinite(feats).all()

    def test_unconditional_modules_ignore_labels(self, data_info):
        if self._arch_class().conditional:
            pytest.skip("conditional architecture")
        G, D = self.build(data_info)
        G.eval()
        D.eval()
        z, _ = self.inputs(G, data_info)
        labels = torch.zeros(self.batch_size, dtype=torch.long)
        if self._arch_class().encoder or self._arch_class().discriminator_sees_input:
            # D's second argument is a latent code or the generator's input, never labels
            assert torch.equal(G(z, None), G(z, labels))
            return
        torch.manual_seed(3)
        a = (G(z, None), D(self.real(data_info), None))
        torch.manual_seed(3)
        b = (G(z, labels), D(self.real(data_info), labels))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])

    def test_gradients_reach_every_parameter(self, data_info):
        G, D = self.build(data_info)
        z, y = self.inputs(G, data_info)
        fake = G(z, y)
        gen = torch.Generator().manual_seed(4)
        # Random weights on the scores: a plain sum can cancel through BatchNorm's batch statistics.
        w = torch.randn(2, self.batch_size, generator=gen)
        real = self.real(data_info)
        # (an encoder's weights get their gradient through the real pairs, (x, E(x)))
        loss = (D(real, self.judged(G, real, y, generator=gen)) * w[0]).sum() + \
            (D(fake, self.judged(G, fake, y, z=z)) * w[1]).sum()
        aux = getattr(D, "auxiliary_loss", None)
        if aux is not None:
            loss = loss + aux(fake, z)
        if data_info.kind == "tokens":
            # A sampled token passes no gradient through D: G learns through its likelihood of them.
            loss = loss + (G.log_prob(fake).sum(dim=1) * w[1]).sum()
        loss.backward()
        for net_name, net in (("G", G), ("D", D)):
            for name, p in net.named_parameters():
                assert p.grad is not None, f"{net_name}.{name} receives no gradient"
                assert torch.isfinite(p.grad).all(), f"{net_name}.{name} has a non-finite gradient"
                assert p.grad.abs().sum() > 0, f"{net_name}.{name} has an all-zero gradient"

    def test_a_generator_of_tokens_is_a_policy(self, data_info):
        """Token sequences: ``G.log_prob(x)`` gives each token's log-probability given the ones before
        it, ``[B, L]``, and ``G.rollout(x, t, uniforms)`` keeps each sequence's first t tokens and
        completes them R times; completing a sample at the uniforms it was drawn at gives it back."""
        if data_info.kind != "tokens":
            pytest.skip("the data are not token sequences")
        G, _ = self.build(data_info)
        z, y = self.inputs(G, data_info)
        with torch.no_grad():
            x = G(z, y)
            logp = G.log_prob(x)
            expect(logp.shape == x.shape and bool((logp <= 0).all()) and bool(torch.isfinite(logp).all()),
                   "log_prob(x): finite log-probabilities of shape [B, L]", tuple(logp.shape))
            t, copies = max(1, x.shape[1] // 2), 3
            uniforms = z.repeat(copies, 1)
            completed = G.rollout(x, t, uniforms)
            expect(completed.shape == (copies * len(x), x.shape[1]), "rollout: [R * B, L]", tuple(completed.shape))
            assert torch.equal(completed[:, :t], x[:, :t].repeat(copies, 1)), "a rollout keeps its prefix"
            assert torch.equal(completed, x.repeat(copies, 1)), \
                "completing a sample at the uniforms it was drawn at must give it back"

    # -- reproducibility ---------------------------------------------------------------------------
    def test_builds_are_seeded(self, data_info):
        G1, D1 = self.build(data_info, seed=0)
        G2, D2 = self.build(data_info, seed=0)
        _assert_same_state(G1, G2)
        _assert_same_state(D1, D2)
        G3, _ = self.build(data_info, seed=1)
        assert any(not torch.equal(a, b) for a, b in zip(G1.state_dict().values(), G3.state_dict().values())), \
            "weights must come from the global torch RNG"
        z, y = self.inputs(G1, data_info)
        x = self.real(data_info)
        outs = []
        for G, D in ((G1, D1), (G2, D2)):
            torch.manual_seed(5)  # per-layer noise and the like may use the global RNG
            outs.append((G(z, y), D(x, self.judged(G, x, y))))
        assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])

    def test_state_dict_round_trips(self, data_info):
        G1, D1 = self.build(data_info, seed=0)
        G2, D2 = self.build(data_info, seed=1)
        # Run a forward in training mode first so running statistics and power iterations hold
        # non-initial values that the round trip has to carry.
        z, y = self.inputs(G1, data_info)
        x = self.real(data_info)
        with torch.no_grad():
            D1(G1(z, y), self.judged(G1, None, y, z=z))
        for src, dst in ((G1, G2), (D1, D2)):
            buffer = io.BytesIO()
            torch.save(src.state_dict(), buffer)
            buffer.seek(0)
            dst.load_state_dict(torch.load(buffer, weights_only=True))
            _assert_same_state(src, dst)
        outs = []
        for G, D in ((G1, D1), (G2, D2)):
            G.eval()
            D.eval()
            torch.manual_seed(6)
            with torch.no_grad():
                outs.append((G(z, y), D(x, self.judged(G, x, y))))
        assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])

    def test_a_declared_encoder_lives_in_g(self, data_info):
        """``encoder``: ``G.encode(x, generator)`` gives ``[B, G.z_dim]`` codes, deterministic without a
        generator, and its weights are G's (trained by G's optimiser, saved and hashed with G)."""
        if not self._arch_class().encoder:
            pytest.skip("the architecture declares no encoder")
        G, D = self.build(data_info)
        x = self.real(data_info)
        for mode in (G.train, G.eval):
            mode()
            with torch.no_grad():
                sampled = G.encode(x, torch.Generator().manual_seed(8))
                mean = G.encode(x, None)
            for code in (sampled, mean):
                assert code.shape == (self.batch_size, G.z_dim) and code.dtype == torch.float32
                assert torch.isfinite(code).all()
        with torch.no_grad():
            assert torch.equal(G.encode(x, None), G.encode(x, None)), "encode(x, None) must be deterministic"
        G.zero_grad(set_to_none=True)
        G.encode(x, torch.Generator().manual_seed(8)).pow(2).sum().backward()
        reached = [name for name, p in G.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
        assert reached, "encode's weights are not parameters of G"
        assert all(p.grad is None for p in D.parameters())

    # -- training ----------------------------------------------------------------------------------
    def _trainer(self, data: DataInfo, hparams: Mapping[str, Any]):
        from ganbench.training import Trainer
        n = 2 * self.batch_size
        gen = torch.Generator().manual_seed(7)
        train_x = torch.rand(n, *data.shape, generator=gen) * 2 - 1
        train_y = torch.randint(data.num_classes, (n,), generator=gen) if data.num_classes else None
        # a generator given an image trains on (input, target) pairs
        train_inputs = None if self._arch_class().generator_input == "noise" else \
            torch.rand(n, *self.build(data)[0].input_shape, generator=gen) * 2 - 1
        task = None
        if data.kind == "tokens":   # trained by policy gradient: the architecture's task drives its updates
            train_x = self.real(data, n)
            task_class = installed_host().tasks.get(self._arch_class().tasks[0])   # a task is its own plugin
            hparams = {**task_class.defaults, **hparams}
            task = task_class(hparams)
        return Trainer(self._arch_class()(), ContractLoss({}), [], data, train_x, train_y, hparams, seed=0,
                       train_inputs=train_inputs, task=task)

    def test_trainer_steps(self, data_info):
        hparams = self.hparams()
        hparams["n_critic"] = min(int(hparams["n_critic"]), 2)  # the plumbing, not the schedule
        trainers = []
        # The same-seed comparison doubles the cost, so it runs on the first data description only.
        for _ in range(2 if data_info == self._data_infos()[0] else 1):
            # Build and run one trainer at a time: each seeds the global RNG (weights, per-layer noise).
            trainer = self._trainer(data_info, hparams)
            trainers.append(trainer)
            for _ in range(2):
                losses = trainer.step()
                for key, value in losses.items():
                    assert value.dim() == 0 and math.isfinite(float(value)), (key, value)
        if len(trainers) == 2:
            assert trainers[0].weights_hash() == trainers[1].weights_hash(), "same seed, different weights"

    def test_step_runs_under_the_flop_counter(self):
        # The runner counts FLOPs per step with torch.utils.flop_counter, whose module tracker hooks
        # every module input: some constructs that train fine (e.g. an expand() view of a parameter
        # under no_grad) make it fail.
        from torch.utils.flop_counter import FlopCounterMode
        hparams = {**self.hparams(), "n_critic": 1}
        trainer = self._trainer(self._data_infos()[0], hparams)
        counter = FlopCounterMode(display=False)
        with counter:
            trainer.step()
        assert counter.get_total_flops() > 0


def _assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert torch.equal(sa[key], sb[key]), f"{key} differs"
