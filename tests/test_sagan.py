"""SAGAN and the self_attention technique: the attention block does what section 3 of the paper says,
sits where it is declared, and trains end to end from the command line."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
import torch
from torch import nn

from ganbench import hookimpl, plugins
from ganbench.api import Architecture, DataInfo, Metric, MetricValue
from ganbench.training import Trainer
from ganbench_plugins.archs._attention import SelfAttention
from ganbench_plugins.archs.dcgan import DCGAN
from ganbench_plugins.archs.sagan import SAGAN
from ganbench_plugins.losses.hinge import Hinge
from ganbench_plugins.techniques.self_attention import SelfAttentionTechnique
from ganbench_plugins.techniques.spectral_norm import is_spectrally_normalised

MNIST = DataInfo((1, 28, 28), num_classes=10)
CIFAR = DataInfo((3, 32, 32), num_classes=10)
CELEBA = DataInfo((3, 64, 64))
SMALL = {"z_dim": 8, "g_ch": 8, "d_ch": 8}


pytestmark = pytest.mark.usefixtures("one_thread")


def _block(channels: int = 16, gamma: float = 0.0, seed: int = 0) -> SelfAttention:
    torch.manual_seed(seed)
    block = SelfAttention(channels, spectral=False)
    with torch.no_grad():
        block.gamma.fill_(gamma)
    return block


def _sagan(data: DataInfo, seed: int = 0):
    torch.manual_seed(seed)
    return SAGAN().build(data, {**SAGAN.defaults, **SMALL})


# -- the attention block ----------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 16, 8, 8), (3, 16, 5, 7)], ids=["square", "oblong"])
def test_attention_keeps_the_shape_of_its_input(shape):
    x = torch.randn(*shape)
    assert _block(gamma=0.7)(x).shape == x.shape


def test_gamma_starts_at_zero_so_the_block_starts_as_the_identity():
    torch.manual_seed(0)
    block = SelfAttention(16)  # as built, spectral norm included
    assert block.gamma.item() == 0.0 and block.gamma.requires_grad
    x = torch.randn(2, 16, 6, 6)
    assert torch.equal(block(x), x)
    with torch.no_grad():
        block.gamma.fill_(0.5)
    assert not torch.allclose(block(x), x)  # the identity comes from gamma, not from a dead branch


def test_attention_weights_are_a_distribution_over_positions():
    block = _block(gamma=0.5)
    x = torch.randn(2, 16, 4, 5)
    beta = block.attention(x)
    assert beta.shape == (2, 20, 20)
    assert (beta >= 0).all()
    torch.testing.assert_close(beta.sum(dim=-1), torch.ones(2, 20))


def test_attention_matches_the_papers_formula_position_by_position():
    """y_j = x_j + gamma * v(sum_i beta_ji h(x_i)), beta_j = softmax_i(f(x_i) . g(x_j)), C-bar = C/8."""
    block = _block(channels=16, gamma=0.3)
    assert block.query.out_channels == block.key.out_channels == block.value.out_channels == 2
    x = torch.randn(1, 16, 3, 3)
    f, g, h = (layer.weight.flatten(1) for layer in (block.key, block.query, block.value))
    v = block.out.weight.flatten(1)
    positions = x[0].flatten(1).T  # [N, C]
    expected = torch.empty_like(positions)
    for j, xj in enumerate(positions):
        scores = torch.stack([(f @ xi) @ (g @ xj) for xi in positions])
        beta = torch.softmax(scores, dim=0)
        expected[j] = xj + 0.3 * (v @ sum(b * (h @ xi) for b, xi in zip(beta, positions)))
    torch.testing.assert_close(block(x)[0].flatten(1).T, expected, rtol=1e-4, atol=1e-5)


# -- the sagan architecture -------------------------------------------------------------------------

def test_sagan_declares_the_papers_training_hyperparameters():
    d = SAGAN.defaults
    assert (d["lr_g"], d["lr_d"], d["beta1"], d["beta2"], d["n_critic"]) == (1e-4, 4e-4, 0.0, 0.9, 1)
    hparams = {**SAGAN.defaults, **Hinge.defaults, **SMALL, "batch_size": 4}
    trainer = Trainer(SAGAN(), Hinge(hparams), [], MNIST, torch.rand(8, *MNIST.shape) * 2 - 1, None, hparams, 0)
    for optimiser, lr in ((trainer.opt_g, 1e-4), (trainer.opt_d, 4e-4)):
        group = optimiser.param_groups[0]
        assert group["lr"] == lr and tuple(group["betas"]) == (0.0, 0.9)


@pytest.mark.parametrize("data", [MNIST, CIFAR])
def test_sagan_normalises_every_convolution_and_linear_layer_of_g_and_d(data):
    G, D = _sagan(data)
    for net_name, net in (("G", G), ("D", D)):
        layers = [(name, m) for name, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        assert len(layers) >= 8, net_name
        plain = [name for name, m in layers if not is_spectrally_normalised(m)]
        assert plain == [], f"{net_name} layers without spectral norm: {plain}"
        assert any(name.endswith("query") for name, _ in layers)  # the attention block's convs count


@pytest.mark.parametrize("data, side", [(MNIST, 14), (CIFAR, 16), (CELEBA, 32)], ids=["28px", "32px", "64px"])
def test_sagan_attends_once_in_g_and_once_in_d_at_half_the_image_side(data, side):
    G, D = _sagan(data)
    seen = []
    for net in (G, D):
        blocks = [m for m in net.modules() if isinstance(m, SelfAttention)]
        assert len(blocks) == 1
        blocks[0].register_forward_hook(lambda module, args, out: seen.append(tuple(args[0].shape[1:])))
    with torch.no_grad():
        D(G(torch.randn(2, G.z_dim)))
    assert seen == [(8, side, side), (8, side, side)]


def test_sagan_starts_with_its_attention_switched_off():
    G, D = _sagan(CIFAR)
    z = torch.randn(4, G.z_dim)
    G.eval(), D.eval()
    with torch.no_grad():
        before = (G(z), D(G(z)))
        for block in (m for net in (G, D) for m in net.modules() if isinstance(m, SelfAttention)):
            block.gamma.fill_(1.0)
        after = (G(z), D(G(z)))
    # gamma = 0 means the blocks contribute nothing; gamma = 1 means they change G's samples and D's scores
    assert not torch.allclose(before[0], after[0]) and not torch.allclose(before[1], after[1])


# -- the self_attention technique -------------------------------------------------------------------

def test_technique_skips_every_architecture_without_a_declared_slot_with_a_reason():
    class Bare(Architecture):
        name = "bare"

    class Slotted(Bare):
        attention_slots = ("discriminator",)

    technique, image = SelfAttentionTechnique, DataInfo((3, 32, 32))
    reason = technique.supports(Bare, Hinge, image)
    assert isinstance(reason, str) and "attention_slots" in reason and "\n" not in reason
    assert technique.supports(Slotted, Hinge, image) is None
    assert technique.supports(Slotted, Hinge, DataInfo((2,), kind="points"))  # no positions to attend over
    host = plugins.load()
    for name in host.architectures.names():
        arch = host.architectures.get(name)
        assert (technique.supports(arch, Hinge, image) is None) == bool(arch.attention_slots), name
    # sagan's attention is built in: it declares no free slot, so no second block is ever added
    assert SAGAN.attention_slots == () and "sagan" in technique.supports(SAGAN, Hinge, image)
    assert DCGAN.attention_slots == ("generator", "discriminator")


def _dcgan_trainer(techniques, seed=0):
    hparams = {**DCGAN.defaults, **Hinge.defaults, "z_dim": 8, "ngf": 16, "ndf": 16, "batch_size": 4}
    for t in techniques:
        hparams.update(t.defaults)
    return Trainer(DCGAN(), Hinge(hparams), [t(hparams) for t in techniques], MNIST,
                   torch.rand(16, *MNIST.shape) * 2 - 1, None, hparams, seed)


def test_technique_adds_a_block_in_dcgans_declared_slots():
    plain, attended = _dcgan_trainer([]), _dcgan_trainer([SelfAttentionTechnique])
    for net_name in ("G", "D"):
        before, after = getattr(plain, net_name), getattr(attended, net_name)
        assert len(before.attention_slot) == 0
        (block,) = after.attention_slot  # in the slot itself, nowhere else
        assert isinstance(block, SelfAttention)
        assert [m for m in after.modules() if isinstance(m, SelfAttention)] == [block]
        added = sum(p.numel() for p in block.parameters())
        assert added > 0
        assert sum(p.numel() for p in after.parameters()) == sum(p.numel() for p in before.parameters()) + added
        optimiser = attended.opt_g if net_name == "G" else attended.opt_d
        in_optimiser = {id(p) for group in optimiser.param_groups for p in group["params"]}
        assert all(id(p) in in_optimiser for p in block.parameters())
    # The slots see the half-side maps: G's before its last transposed conv, D's after its first conv.
    seen = []
    for net in (attended.G, attended.D):
        net.attention_slot[0].register_forward_hook(lambda module, args, out: seen.append(tuple(args[0].shape[1:])))
    with torch.no_grad():
        attended.D(attended.G(torch.randn(2, 8)))
    assert seen == [(16, 14, 14), (16, 14, 14)]


def test_technique_leaves_dcgan_unchanged_at_init_and_then_learns_to_attend():
    plain, attended = _dcgan_trainer([]), _dcgan_trainer([SelfAttentionTechnique])
    z = torch.randn(4, 8)
    for trainer in (plain, attended):
        trainer.G.eval(), trainer.D.eval()
    with torch.no_grad():
        assert torch.equal(plain.G(z), attended.G(z))  # the same weights, and gamma = 0: the identity
        assert torch.equal(plain.D(plain.G(z)), attended.D(attended.G(z)))
    attended.G.train(), attended.D.train()
    for _ in range(2):
        attended.step()
    assert attended.G.attention_slot[0].gamma.item() != 0 and attended.D.attention_slot[0].gamma.item() != 0


def test_technique_refuses_to_fill_a_slot_twice():
    torch.manual_seed(0)
    G, _ = DCGAN().build(MNIST, {**DCGAN.defaults, "z_dim": 8, "ngf": 8, "ndf": 8})
    technique = SelfAttentionTechnique(SelfAttentionTechnique.defaults)
    technique.wrap_generator(G, MNIST)
    with pytest.raises(ValueError, match="already holds a block"):
        technique.wrap_generator(G, MNIST)


# -- end to end -------------------------------------------------------------------------------------

class PixelMean(Metric):
    """Mean pixel value of the samples (a test double: no evaluator to train)."""

    name = "pixel_mean"
    ranks = {"pixel_mean": 0}

    def compute(self, ctx, split):
        return [MetricValue("pixel_mean", float(ctx.sample(64).mean()), False, 64, split)]


def test_sagan_runs_from_the_command_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from ganbench import cli as cli_mod

    module = types.ModuleType("pixel_mean_plugin")
    module.ganbench_register_metrics = hookimpl(lambda registry: registry.add(PixelMean))
    real_load = plugins.load
    monkeypatch.setattr(plugins, "load", lambda **kw: real_load(**kw, extra=[("pixel_mean", module)]))
    results = tmp_path / "results"
    out = CliRunner().invoke(cli_mod.cli, [
        "run", "--arch", "sagan", "--loss", "hinge", "--dataset", "mnist5k", "--budget", "steps=3",
        "--hparam", "batch_size=8", "--hparam", "g_ch=8", "--hparam", "d_ch=8", "--metric", "pixel_mean",
        "--threads", "1", "--quiet", "--results-dir", str(results)], obj={})
    assert out.exit_code == 0, out.output
    (run_dir,) = (results / "runs").iterdir()
    result = json.loads((Path(run_dir) / "result.json").read_text())
    assert result["status"] == "completed" and result["steps"] == 3, result.get("error")
    assert -1 <= result["final"]["pixel_mean"]["value"] <= 1
