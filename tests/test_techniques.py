"""Built-in techniques: the shared contract for each, then what each one is supposed to do."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from ganbench.testing.common import through_a_checkpoint
from ganbench.api import DataInfo, Loss, Technique
from ganbench.contracts.technique import (IMAGE_DATA, POINTS_DATA, TechniqueContract, TinyArchitecture,
                                          TinyBCELoss, TinyDiscriminator, make_train_data, merged_hparams)
from ganbench.training import Trainer, TrainerStepContext as StepContext

from ganbench_plugins.techniques import (diffaugment, ema, experience_replay, feature_matching,
                                         historical_averaging, instance_noise, label_smoothing,
                                         minibatch_discrimination, minibatch_stddev, multi_discriminator,
                                         pacgan, spectral_norm, ttur, unrolled)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny models on a shared 2-core machine: extra threads only add contention.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------------
# The contract, once per built-in technique.

class TestLabelSmoothing(TechniqueContract):
    technique_name = "label_smoothing"


class TestInstanceNoise(TechniqueContract):
    technique_name = "instance_noise"
    hparam_overrides = {"instance_noise_steps": 3}  # reaches zero noise within the test


class TestFeatureMatching(TechniqueContract):
    technique_name = "feature_matching"


class TestMinibatchDiscrimination(TechniqueContract):
    technique_name = "minibatch_discrimination"
    hparam_overrides = {"minibatch_kernels": 8, "minibatch_kernel_dim": 3}


class TestMinibatchStddev(TechniqueContract):
    technique_name = "minibatch_stddev"


class TestHistoricalAveraging(TechniqueContract):
    technique_name = "historical_averaging"


class TestExperienceReplay(TechniqueContract):
    technique_name = "experience_replay"
    hparam_overrides = {"replay_buffer_size": 12}  # fills, then gets overwritten, within 4 steps


class TestMultiDiscriminator(TechniqueContract):
    technique_name = "multi_discriminator"


class TestTTUR(TechniqueContract):
    technique_name = "ttur"


class TestPacGAN(TechniqueContract):
    technique_name = "pacgan"


class TestPacGANPoints(TechniqueContract):
    technique_name = "pacgan"
    data_info = POINTS_DATA


class TestUnrolled(TechniqueContract):
    technique_name = "unrolled"
    hparam_overrides = {"unrolling_steps": 2}


class TestSpectralNorm(TechniqueContract):
    technique_name = "spectral_norm"


class TestEMA(TechniqueContract):
    technique_name = "ema"


class TestDiffAugment(TechniqueContract):
    technique_name = "diffaugment"


# ---------------------------------------------------------------------------------------------------
# Helpers for behavioural checks: plugin classes used directly, a trainer built around them.

def make_trainer(techniques, data: DataInfo = IMAGE_DATA, loss_cls=TinyBCELoss, seed: int = 7, **overrides):
    hparams = {**TinyArchitecture.defaults, **loss_cls.defaults}
    for t in techniques:
        hparams.update(t.defaults)
    hparams.update(overrides)
    return Trainer(TinyArchitecture(), loss_cls(hparams), [t(hparams) for t in techniques], data,
                   make_train_data(data), None, hparams, seed)


def context(trainer, step: int = 0) -> StepContext:
    real, labels = trainer.next_real_batch()
    return StepContext(trainer, step, real, labels)


def test_every_builtin_technique_has_a_contract_test():
    from importlib.metadata import entry_points
    # Read from the metadata, not by loading: another plugin's import error must not fail this test.
    builtins = {ep.name for ep in entry_points(group="ganbench")
                if ep.value.startswith("ganbench_plugins.techniques.")}
    tested = {cls.technique_name for cls in globals().values()
              if isinstance(cls, type) and issubclass(cls, TechniqueContract)
              and hasattr(cls, "technique_name")}
    assert len(builtins) == 16 and builtins <= tested


# -- label smoothing ------------------------------------------------------------------------------

def test_label_smoothing_changes_bce_discriminator_loss():
    plain = TinyBCELoss(merged_hparams(TinyArchitecture, TinyBCELoss, Technique))
    smoothed = TinyBCELoss(merged_hparams(TinyArchitecture, TinyBCELoss, label_smoothing.LabelSmoothing))
    real, fake = torch.tensor([3.0, 2.0]), torch.tensor([-1.0, 0.5])
    assert smoothed.hparams["real_label"] == 0.9
    assert smoothed.discriminator_loss(real, fake) > plain.discriminator_loss(real, fake)


def test_label_smoothing_refuses_losses_without_a_real_target():
    class Hinge(Loss):
        name = "hinge_like"

    assert label_smoothing.LabelSmoothing.supports(TinyArchitecture, Hinge, IMAGE_DATA)
    assert label_smoothing.LabelSmoothing.supports(TinyArchitecture, TinyBCELoss, IMAGE_DATA) is None


# -- TTUR -------------------------------------------------------------------------------------------

def test_ttur_sets_the_optimisers_learning_rates():
    trainer = make_trainer([ttur.TTUR])
    assert trainer.opt_d.param_groups[0]["lr"] == 4e-4
    assert trainer.opt_g.param_groups[0]["lr"] == 1e-4


# -- instance noise ---------------------------------------------------------------------------------

def test_instance_noise_is_annealed_to_zero():
    trainer = make_trainer([instance_noise.InstanceNoise], instance_noise_std=0.5, instance_noise_steps=10)
    technique = trainer.techniques[0]
    x = torch.zeros(64, 3, 8, 8)
    early = technique.discriminator_input(x, context(trainer, step=0))
    assert abs(early.std().item() - 0.5) < 0.05
    halfway = technique.discriminator_input(x, context(trainer, step=5))
    assert abs(halfway.std().item() - 0.25) < 0.03
    assert torch.equal(technique.discriminator_input(x, context(trainer, step=10)), x)


# -- feature matching -------------------------------------------------------------------------------

def test_feature_matching_loss_is_the_squared_distance_of_mean_features():
    trainer = make_trainer([feature_matching.FeatureMatching])
    ctx = StepContext(trainer, 0, None, None)
    fake = torch.rand(8, 3, 8, 8) * 2 - 1
    drawn = trainer.batches_drawn
    loss = trainer.techniques[0].generator_loss(ctx, fake, None)
    assert trainer.batches_drawn == drawn + 1
    trainer.batches_drawn = drawn
    real, _ = trainer.next_real_batch()
    D = trainer.D
    expected = (D.features(real).mean(0) - D.features(fake).mean(0)).pow(2).sum()
    torch.testing.assert_close(loss, expected)


def test_feature_matching_is_skipped_for_an_architecture_without_declared_features():
    """Declared, not probed: the combination is refused when the matrix is expanded, with the reason."""
    from ganbench.api import Architecture
    from ganbench.plugins import load

    host = load()

    class Bare(Architecture):
        name = "bare"

    class WithFeatures(Bare):
        discriminator_features = True

    fm = feature_matching.FeatureMatching
    loss = host.losses.get("nonsaturating")
    assert "discriminator_features" in fm.supports(Bare, loss, IMAGE_DATA)
    assert fm.supports(WithFeatures, loss, IMAGE_DATA) is None
    for name in host.architectures.names():
        arch = host.architectures.get(name)
        assert (fm.supports(arch, loss, IMAGE_DATA) is None) == arch.discriminator_features


# -- minibatch features -----------------------------------------------------------------------------

@pytest.mark.parametrize("technique, hparams", [
    (minibatch_discrimination.MinibatchDiscrimination, {"minibatch_kernels": 8, "minibatch_kernel_dim": 3}),
    (minibatch_stddev.MinibatchStddev, {"minibatch_group_size": 4}),
])
def test_minibatch_wrappers_score_a_sample_by_its_batch(technique, hparams):
    torch.manual_seed(0)
    inner = TinyDiscriminator(IMAGE_DATA)
    D = technique(hparams).wrap_discriminator(inner, IMAGE_DATA)
    x = torch.rand(8, 3, 8, 8) * 2 - 1
    with torch.no_grad():
        D.head.weight.zero_()
        D.head.bias.zero_()
        torch.testing.assert_close(D(x), inner(x))  # the batch enters only through the new head
        D.head.weight.fill_(1.0)
    other = x.clone()
    other[1:] = x[0]  # everyone but sample 0 changes; sample 0's own score from D alone does not
    assert D(x).shape == (8,)
    assert not torch.allclose(D(x)[0], D(other)[0])
    assert torch.equal(D.features(x), inner.features(x))


def test_minibatch_stddev_group_statistic():
    f = torch.tensor([[0.0], [10.0], [2.0], [10.0]])  # groups are strided: {0, 2} and {1, 3}
    stat = minibatch_stddev.minibatch_stddev(f, group_size=2)
    torch.testing.assert_close(stat.squeeze(1), torch.tensor([1.0, 0.0, 1.0, 0.0]), atol=1e-3, rtol=0)


# -- historical averaging ---------------------------------------------------------------------------

def test_historical_averaging_pulls_towards_the_past_average():
    trainer = make_trainer([historical_averaging.HistoricalAveraging])
    technique = trainer.techniques[0]
    ctx = StepContext(trainer, 0, None, None)
    assert technique.generator_extra_loss(ctx) is None  # no history yet
    start = {n: p.detach().clone() for n, p in trainer.G.named_parameters()}
    with torch.no_grad():
        for p in trainer.G.parameters():
            p.add_(0.1)
    term = technique.generator_extra_loss(ctx)
    expected = sum(((p - start[n]) ** 2).sum() for n, p in trainer.G.named_parameters())
    torch.testing.assert_close(term, expected)
    term.backward()
    assert all(p.grad is not None for p in trainer.G.parameters())
    assert technique.counts["G"] == 2


# -- experience replay ------------------------------------------------------------------------------

def test_experience_replay_mixes_in_past_fakes():
    trainer = make_trainer([experience_replay.ExperienceReplay], replay_buffer_size=16)
    technique = trainer.techniques[0]
    ctx = context(trainer)
    first = torch.full((8, 3, 8, 8), 1.0)
    replayed, labels = technique.discriminator_fakes(first, None, ctx)
    assert torch.equal(replayed, first) and labels is None  # empty buffer: nothing to replay
    second = torch.full((8, 3, 8, 8), 2.0)
    mixed, _ = technique.discriminator_fakes(second, None, ctx)
    assert mixed.shape == second.shape
    values = mixed.flatten(1)[:, 0]
    assert (values == 2.0).sum() == 4 and (values == 1.0).sum() == 4
    assert technique.size == 16
    third = torch.full((8, 3, 8, 8), 3.0)
    technique.discriminator_fakes(third, None, ctx)  # full: 4 random slots now hold fresh fakes
    assert (technique.buffer.flatten(1)[:, 0] == 3.0).sum() == 4


def test_experience_replay_scores_a_replayed_fake_with_the_label_it_was_generated_for():
    trainer = make_trainer([experience_replay.ExperienceReplay], replay_buffer_size=8)
    technique = trainer.techniques[0]
    ctx = context(trainer)
    for batch in range(6):
        # every fake carries its class in its pixels: fake of class c is filled with c
        labels = torch.randint(10, (8,), generator=torch.Generator().manual_seed(batch))
        fake = labels.float()[:, None, None, None].expand(8, 3, 8, 8).contiguous()
        mixed, mixed_labels = technique.discriminator_fakes(fake, labels, ctx)
        assert torch.equal(mixed.flatten(1)[:, 0], mixed_labels.float())
        if batch:  # half of the batch is replayed, with its own labels
            assert not torch.equal(mixed_labels, labels)
    assert torch.equal(technique.buffer.flatten(1)[:, 0], technique.labels.float())
    # labels survive a checkpoint with the buffer
    again = make_trainer([experience_replay.ExperienceReplay], replay_buffer_size=8).techniques[0]
    again.load_state_dict(through_a_checkpoint(technique.state_dict()))
    assert torch.equal(again.labels, technique.labels) and torch.equal(again.buffer, technique.buffer)


# -- multiple discriminators ------------------------------------------------------------------------

def test_multi_discriminator_averages_independently_initialised_copies():
    torch.manual_seed(0)
    inner = TinyDiscriminator(IMAGE_DATA)
    before = copy.deepcopy(inner.state_dict())
    wrapper = multi_discriminator.MultiDiscriminator({"num_discriminators": 3})
    D = wrapper.wrap_discriminator(inner, IMAGE_DATA)
    assert len(D.members) == 3 and D.members[0] is inner
    for key, value in before.items():
        assert torch.equal(inner.state_dict()[key], value)
    weights = [m.head.weight for m in D.members]
    assert not torch.equal(weights[0], weights[1]) and not torch.equal(weights[1], weights[2])
    x = torch.rand(8, 3, 8, 8)
    torch.testing.assert_close(D(x), torch.stack([m(x) for m in D.members]).mean(0))
    assert D.features(x).shape == (8, 3 * inner.features(x).shape[1])


def test_multi_discriminator_reinitialises_parametrized_layers():
    torch.manual_seed(0)
    inner = spectral_norm.SpectralNorm({"spectral_norm_power_iterations": 1}).wrap_discriminator(
        TinyDiscriminator(IMAGE_DATA), IMAGE_DATA)
    wrapper = multi_discriminator.MultiDiscriminator({"num_discriminators": 2})
    D = wrapper.wrap_discriminator(inner, IMAGE_DATA)
    originals = [m.head.parametrizations.weight.original for m in D.members]
    assert not torch.equal(originals[0], originals[1])
    assert D(torch.rand(8, 3, 8, 8)).shape == (8,)  # both copies still compute their weights


# -- PacGAN -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [IMAGE_DATA, POINTS_DATA])
def test_pacgan_scores_packs(data):
    torch.manual_seed(0)
    technique = pacgan.PacGAN({"pac_size": 2})
    judged = technique.discriminator_data(data)
    assert judged.shape == (2 * data.shape[0], *data.shape[1:]) and judged.kind == data.kind
    inner = TinyDiscriminator(judged)
    D = technique.wrap_discriminator(inner, data)
    seen = []
    inner.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape))
    x = torch.rand(8, *data.shape) * 2 - 1
    scores = D(x)
    assert seen[0] == (4, 2 * data.shape[0], *data.shape[1:])  # 4 packs of 2 samples
    assert scores.shape == (4,)
    changed = x.clone()
    changed[3] = -changed[3]  # the second member of pack 1
    moved = (D(changed) != scores).tolist()
    assert moved == [False, True, False, False]
    with pytest.raises(ValueError, match="multiple"):
        D(x[:7])


def test_pacgan_discriminator_is_the_architectures_own_with_a_wider_input():
    # The paper's PacGAN: D's first layer takes m x the channels, nothing is put in front of it.
    plain = make_trainer([])
    packed = make_trainer([pacgan.PacGAN], pac_size=4)  # the tiny architecture's batch is 8
    assert isinstance(packed.D, pacgan.PackedDiscriminator)
    first = lambda D: next(m for m in D.modules() if isinstance(m, nn.Conv2d))  # noqa: E731
    assert first(packed.D).in_channels == 4 * first(plain.D).in_channels
    assert sum(p.numel() for p in packed.D.parameters()) > sum(p.numel() for p in plain.D.parameters())
    assert [type(m) for m in packed.D.inner.modules()] == [type(m) for m in plain.D.modules()]
    losses = packed.step()
    assert torch.isfinite(losses["loss_d"]) and torch.isfinite(losses["loss_g"])


def test_pacgan_refuses_a_discriminator_head_that_reads_single_samples():
    from ganbench_plugins.archs.dcgan import DCGAN
    from ganbench_plugins.archs.infogan import InfoGAN
    mnist = DataInfo(shape=(1, 28, 28), num_classes=10)
    assert "single samples" in pacgan.PacGAN.supports(InfoGAN, TinyBCELoss, mnist)
    assert pacgan.PacGAN.supports(DCGAN, TinyBCELoss, mnist) is None


def test_pacgan_packs_labels_by_first_member():
    D = pacgan.PacGAN({"pac_size": 2}).wrap_discriminator(TinyDiscriminator(POINTS_DATA), POINTS_DATA)
    _, y = D.pack(torch.zeros(6, 2), torch.tensor([0, 1, 2, 3, 4, 5]))
    assert y.tolist() == [0, 2, 4]


# -- unrolled ---------------------------------------------------------------------------------------

def _optimizer_state(opt) -> list[tuple[str, torch.Tensor]]:
    return [(f"{i}.{key}", value.clone()) for i, state in sorted(opt.state_dict()["state"].items())
            for key, value in sorted(state.items()) if torch.is_tensor(value)]


def test_unrolled_scores_against_a_look_ahead_copy():
    trainer = make_trainer([unrolled.Unrolled], unrolling_steps=3)
    trainer.step()   # D's optimiser has moments and a step count the look-ahead must leave alone
    before, state = trainer.weights_hash(), _optimizer_state(trainer.opt_d)
    drawn = trainer.batches_drawn
    D = trainer.techniques[0].discriminator_for_generator_step(StepContext(trainer, 1, None, None))
    assert D is not trainer.D
    assert trainer.weights_hash() == before  # the trainer's D is untouched
    after = _optimizer_state(trainer.opt_d)
    assert [k for k, _ in after] == [k for k, _ in state] and all(torch.equal(a, b) for (_, a), (_, b) in zip(after, state))
    assert trainer.batches_drawn == drawn + 3
    assert any(not torch.equal(a, b) for a, b in zip(D.parameters(), trainer.D.parameters()))


# -- spectral normalisation -------------------------------------------------------------------------

def test_spectral_norm_bounds_every_discriminator_weight():
    trainer = make_trainer([pacgan.PacGAN, spectral_norm.SpectralNorm])  # SN wraps what is listed before it
    layers = [m for m in trainer.D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 2  # the tiny D's conv (built for packs) and its head
    for _ in range(3):
        trainer.step()
    trainer.D.train()
    for _ in range(20):  # let power iteration catch up with the last update
        trainer.D(torch.rand(8, 3, 8, 8))
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert abs(sigma.item() - 1.0) < 1e-2, (layer, sigma)


def test_spectral_norm_skips_already_normalised_layers():
    D = TinyDiscriminator(IMAGE_DATA)
    torch.nn.utils.parametrizations.spectral_norm(D.head)
    spectral_norm.SpectralNorm({"spectral_norm_power_iterations": 1}).wrap_discriminator(D, IMAGE_DATA)
    assert len(D.head.parametrizations.weight) == 1
    assert spectral_norm.is_spectrally_normalised(D.trunk[0])


# -- EMA --------------------------------------------------------------------------------------------

def test_ema_tracks_the_analytic_average():
    decay = 0.5
    trainer = make_trainer([ema.EMA], ema_decay=decay)
    expected = [p.detach().clone() for p in trainer.G.parameters()]
    for _ in range(3):
        trainer.step()
        expected = [decay * e + (1 - decay) * p.detach() for e, p in zip(expected, trainer.G.parameters())]
    averaged = trainer.evaluation_generator()
    assert averaged is not trainer.G
    for e, a, p in zip(expected, averaged.parameters(), trainer.G.parameters()):
        torch.testing.assert_close(a, e)
        assert not torch.equal(a, p)
    assert not any(p.requires_grad for p in averaged.parameters())


# -- DiffAugment ------------------------------------------------------------------------------------

def test_diffaugment_refuses_points():
    assert diffaugment.DiffAugment.supports(TinyArchitecture, TinyBCELoss, POINTS_DATA)
    assert diffaugment.DiffAugment.supports(TinyArchitecture, TinyBCELoss, IMAGE_DATA) is None


def test_diffaugment_is_random_from_ctx_rng_and_differentiable():
    trainer = make_trainer([diffaugment.DiffAugment])
    technique = trainer.techniques[0]
    ctx = context(trainer)
    x = (torch.rand(8, 3, 8, 8) * 2 - 1).requires_grad_()
    state = trainer.technique_rng.get_state()
    out = technique.discriminator_input(x, ctx)
    trainer.technique_rng.set_state(state)
    assert torch.equal(out, technique.discriminator_input(x, ctx))
    assert out.shape == x.shape and not torch.allclose(out, x)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_diffaugment_translation_and_cutout_geometry():
    gen = torch.Generator().manual_seed(0)
    x = torch.arange(1.0, 65.0).view(1, 1, 8, 8).repeat(16, 1, 1, 1)
    shifted = diffaugment.translate(x, 0.125, gen)
    for img in shifted:  # a shift by at most one pixel: every kept value sits next to its origin
        kept = img[img != 0]
        assert kept.numel() >= 49
    cut = diffaugment.cutout(torch.ones(16, 1, 8, 8), 0.5, gen)
    zeros = (cut == 0).flatten(1).sum(1)
    assert (zeros <= 16).all() and (zeros > 0).all()


# -- compositions -----------------------------------------------------------------------------------

STACKS = [
    # wrappers nest in order; SN then reaches the ensemble's copies, PacGAN's front and the heads
    [pacgan.PacGAN, minibatch_stddev.MinibatchStddev, multi_discriminator.MultiDiscriminator,
     spectral_norm.SpectralNorm, unrolled.Unrolled],
    [diffaugment.DiffAugment, instance_noise.InstanceNoise, feature_matching.FeatureMatching, ema.EMA,
     historical_averaging.HistoricalAveraging, experience_replay.ExperienceReplay],
    [minibatch_discrimination.MinibatchDiscrimination, label_smoothing.LabelSmoothing, ttur.TTUR, ema.EMA],
]


@pytest.mark.parametrize("stack", STACKS, ids=lambda s: "+".join(t.name for t in s))
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_techniques_compose_and_resume(stack, precision):
    overrides = {"unrolling_steps": 1, "replay_buffer_size": 12, "minibatch_kernels": 4}

    def build():
        hparams = {**TinyArchitecture.defaults, **TinyBCELoss.defaults}
        for t in stack:
            hparams.update(t.defaults)
        hparams.update(overrides)
        return Trainer(TinyArchitecture(), TinyBCELoss(hparams), [t(hparams) for t in stack], IMAGE_DATA,
                       make_train_data(IMAGE_DATA), None, hparams, 3, precision=precision)

    straight = build()
    for _ in range(3):
        losses = straight.step()
        assert all(torch.isfinite(v).all() for v in losses.values())
    first = build()
    first.step()
    state = through_a_checkpoint(first.state_dict())
    resumed = build()
    resumed.load_state_dict(state)
    resumed.step()
    resumed.step()
    assert TechniqueContract.fingerprint(resumed) == TechniqueContract.fingerprint(straight)


# -- self-attention ---------------------------------------------------------------------------------
# The contract's tiny architecture declares no attention slot, so self_attention would skip every
# training check on it; the contract runs here on the same tiny networks with a slot in G and in D.

from ganbench.contracts.technique import TinyGenerator  # noqa: E402  (used by this section only)


class SlottedTinyGenerator(TinyGenerator):
    """The contract's tiny G (images only) with a slot on its [B, C, H, W] output before tanh."""

    def __init__(self, data: DataInfo, z_dim: int):
        super().__init__(data, z_dim)
        self.attention_slot, self.attention_channels = nn.Sequential(), data.shape[0]

    def forward(self, z, y=None):
        pre_tanh = self.net[:-1](z).view(z.shape[0], *self.shape)
        return torch.tanh(self.attention_slot(pre_tanh))


class SlottedTinyDiscriminator(TinyDiscriminator):
    """The contract's tiny D (images only) with a slot on its conv's feature map."""

    def __init__(self, data: DataInfo):
        super().__init__(data)
        self.attention_slot, self.attention_channels = nn.Sequential(), 4  # the trunk conv's width

    def features(self, x, y=None):
        conv, activation, flatten = self.trunk
        return flatten(self.attention_slot(activation(conv(x))))


class SlottedTinyArchitecture(TinyArchitecture):
    """The contract's tiny architecture, declaring an attention slot in G and in D."""

    name = "contract_tiny_slotted"
    attention_slots = ("generator", "discriminator")

    def build(self, data, hparams):
        return SlottedTinyGenerator(data, int(hparams["z_dim"])), SlottedTinyDiscriminator(data)


class TestSelfAttention(TechniqueContract):
    technique_name = "self_attention"

    @classmethod
    def _supported_or_skip(cls, technique):
        assert technique.supports(SlottedTinyArchitecture, TinyBCELoss, cls.data_info) is None

    @classmethod
    def make_trainer(cls, technique=None, seed=None):
        technique = technique or cls.technique_class()
        hparams = merged_hparams(SlottedTinyArchitecture, TinyBCELoss, technique, cls.hparams_override)
        return Trainer(SlottedTinyArchitecture(), TinyBCELoss(hparams), [technique(hparams)], cls.data_info,
                       make_train_data(cls.data_info), None, hparams, cls.seed if seed is None else seed)

    def test_the_contract_trains_the_inserted_blocks(self):
        from ganbench_plugins.archs._attention import SelfAttention
        trainer = self.make_trainer()
        blocks = [m for net in (trainer.G, trainer.D) for m in net.modules() if isinstance(m, SelfAttention)]
        assert len(blocks) == 2
        trainer.step()
        assert all(block.gamma.item() != 0 for block in blocks)  # in the optimisers, and trained


# -- dp_sgd -----------------------------------------------------------------------------------------
# The contract on the tiny networks (a conv and a linear layer: Opacus takes both); without Opacus
# installed, supports() gives the install line and the training checks are skipped with it.

class TestDPSGD(TechniqueContract):
    technique_name = "dp_sgd"
