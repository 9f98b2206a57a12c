"""The built-in architectures pass the same contract as third-party ones, at shrunken widths."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganbench.api import DataInfo
from ganbench.contracts.architecture import ArchitectureContract, plugin_host

torch.set_num_threads(1)

POINTS = DataInfo((2,), kind="points", num_modes=8)
MNIST = DataInfo((1, 28, 28), num_classes=10)
DIGITS = DataInfo((1, 8, 8), num_classes=10)
CIFAR = DataInfo((3, 32, 32), num_classes=10)
STACKED = DataInfo((3, 28, 28), num_modes=1000)
CELEBA = DataInfo((3, 64, 64))


class TestMLP(ArchitectureContract):
    architecture_name = entry_point = "mlp"
    data_infos = (POINTS, DIGITS)
    hparams_override = {"z_dim": 8, "hidden": 16, "depth": 2, "image_hidden": 16, "image_depth": 2}


class TestDCGAN(ArchitectureContract):
    architecture_name = entry_point = "dcgan"
    data_infos = (MNIST, CIFAR, CELEBA)
    hparams_override = {"z_dim": 8, "ngf": 4, "ndf": 4}


class TestSNGANResNet(ArchitectureContract):
    architecture_name = entry_point = "sngan_resnet"
    data_infos = (MNIST, CIFAR)
    hparams_override = {"z_dim": 8, "g_ch": 4, "d_ch": 4}


class TestCGAN(ArchitectureContract):
    architecture_name = entry_point = "cgan"
    data_infos = (DIGITS, MNIST)
    hparams_override = {"z_dim": 8, "g_z_hidden": 8, "g_y_hidden": 8, "g_hidden": 16,
                        "d_x_units": 8, "d_y_units": 4, "d_units": 8}


class TestSNGANProjection(ArchitectureContract):
    architecture_name = entry_point = "sngan_projection"
    data_infos = (MNIST, CIFAR)
    hparams_override = {"z_dim": 8, "g_ch": 4, "d_ch": 4}


class TestInfoGAN(ArchitectureContract):
    architecture_name = entry_point = "infogan"
    data_infos = (MNIST, CIFAR)
    hparams_override = {"z_dim": 6, "fc": 16, "ngf": 4, "ndf": 4, "q_hidden": 8}


class TestStyleGAN(ArchitectureContract):
    architecture_name = entry_point = "stylegan"
    data_infos = (MNIST, CIFAR)
    hparams_override = {"z_dim": 8, "ch": 4, "d_ch": 4, "mapping_layers": 2}


class TestBigGAN(ArchitectureContract):
    architecture_name = entry_point = "biggan"
    data_infos = (MNIST, CIFAR)
    hparams_override = {"z_dim": 12, "g_ch": 4, "d_ch": 4, "shared_dim": 4}


class TestSAGAN(ArchitectureContract):
    architecture_name = entry_point = "sagan"
    data_infos = (MNIST, CIFAR)
    hparams_override = {"z_dim": 8, "g_ch": 8, "d_ch": 8}

    def test_gradients_reach_every_parameter(self, data_info, monkeypatch):
        # The paper starts each attention gamma at 0, which makes the gradient of the block's own
        # convolutions exactly zero until gamma has moved: check the plumbing with gamma moved.
        from ganbench_plugins.archs._attention import SelfAttention
        build = self.build

        def build_with_gamma_moved(data, seed=0):
            G, D = build(data, seed)
            with torch.no_grad():
                for block in (m for net in (G, D) for m in net.modules() if isinstance(m, SelfAttention)):
                    block.gamma.fill_(0.5)
            return G, D

        monkeypatch.setattr(self, "build", build_with_gamma_moved)
        super().test_gradients_reach_every_parameter(data_info)


class TestProGAN(ArchitectureContract):
    architecture_name = entry_point = "progan"
    data_infos = (MNIST, CIFAR)
    hparams_override = {"z_dim": 8, "progan_ch": 4}

    def test_gradients_reach_every_parameter(self, data_info):
        # A phase runs only the resolutions grown so far (fading in, also the previous toRGB and
        # fromRGB): in every fade-in, each parameter in use gets a finite, non-zero gradient, and each
        # parameter is in use in one of them.
        from ganbench_plugins.archs.progan import ProGAN
        schedule = ProGAN.schedule(data_info, self.hparams())
        reached = set()
        for level in range(1, len(schedule.sides)):
            G, D = self.build(data_info)
            images = (level - 1) * (schedule.stable + schedule.fade) + schedule.stable + schedule.fade // 2
            ProGAN().set_progress(G, D, images)
            assert schedule.at(images)[0] == level and 0 < schedule.at(images)[1] < 1
            z, y = self.inputs(G, data_info)
            w = torch.randn(2, self.batch_size, generator=torch.Generator().manual_seed(4))
            ((D(self.real(data_info), y) * w[0]).sum() + (D(G(z, y), y) * w[1]).sum()).backward()
            for net_name, net in (("G", G), ("D", D)):
                for name, p in net.named_parameters():
                    if p.grad is not None:
                        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, f"{net_name}.{name}"
                        reached.add(f"{net_name}.{name}")
        every = {f"{net_name}.{name}" for net_name, net in (("G", G), ("D", D)) for name, _ in net.named_parameters()}
        assert reached == every, f"never in use: {sorted(every - reached)}"


# ---------------------------------------------------------------------------------------------------

UNSUPPORTED = {
    "mlp": [DataInfo((3, 64, 64)), DataInfo((4,), kind="sequence")],
    "dcgan": [POINTS, DIGITS, DataInfo((3, 32, 28)), DataInfo((3, 48, 48))],
    "sngan_resnet": [POINTS, DIGITS, CELEBA],
    "cgan": [POINTS, STACKED, DataInfo((3, 64, 64), num_classes=10)],
    "sngan_projection": [POINTS, STACKED, DataInfo((3, 64, 64), num_classes=10)],
    "infogan": [POINTS, DIGITS, CELEBA],
    "stylegan": [POINTS, DIGITS, CELEBA],
    "biggan": [POINTS, STACKED, DataInfo((3, 64, 64), num_classes=10)],
    "sagan": [POINTS, DIGITS, DataInfo((3, 48, 48))],
    "progan": [POINTS, DataInfo((3, 32, 28)), DataInfo((3, 48, 48)), DataInfo((1, 12, 12))],
    "bigan": [DIGITS, CELEBA, DataInfo((2, 2), kind="points")],
    "ali": [DIGITS, CELEBA, DataInfo((3, 28, 32))],
    "srgan": [POINTS, DIGITS, DataInfo((3, 28, 32))],
    "pix2pix": [POINTS, DIGITS, DataInfo((3, 48, 48))],
    "seqgan": [POINTS, DIGITS, DataInfo((4,), kind="sequence")],
}
ENTRY_POINTS = {"ali": "bigan"}  # architectures registered by another name's file


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_shapes_give_a_reason(name):
    arch = plugin_host(ENTRY_POINTS.get(name, name)).architectures.get(name)
    for data in UNSUPPORTED[name]:
        reason = arch.supports(data)
        assert isinstance(reason, str) and reason.strip(), (name, data, reason)


def test_all_builtin_architectures_are_covered():
    tested = {cls.architecture_name for cls in ArchitectureContract.__subclasses__() if cls.__module__ == __name__}
    assert tested == set(UNSUPPORTED) == {"mlp", "dcgan", "sngan_resnet", "cgan", "sngan_projection",
                                         "infogan", "stylegan", "biggan", "sagan", "progan",
                                         "bigan", "ali", "srgan", "pix2pix", "seqgan"}


def test_dcgan_64px_matches_the_reference_layout():
    arch = plugin_host("dcgan").architectures.get("dcgan")
    assert (arch.defaults["z_dim"], arch.defaults["ngf"], arch.defaults["ndf"]) == (100, 64, 64)
    assert (arch.defaults["lr_g"], arch.defaults["beta1"], arch.defaults["batch_size"]) == (2e-4, 0.5, 128)
    torch.manual_seed(0)
    G, D = arch().build(CELEBA, dict(arch.defaults))
    g_convs = [(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding)
               for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert g_convs == [(100, 512, (4, 4), (1, 1), (0, 0)), (512, 256, (4, 4), (2, 2), (1, 1)),
                       (256, 128, (4, 4), (2, 2), (1, 1)), (128, 64, (4, 4), (2, 2), (1, 1)),
                       (64, 3, (4, 4), (2, 2), (1, 1))]
    d_convs = [(m.in_channels, m.out_channels, m.stride) for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert d_convs == [(3, 64, (2, 2)), (64, 128, (2, 2)), (128, 256, (2, 2)), (256, 512, (2, 2)), (512, 1, (1, 1))]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in G.modules()) == 4
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.modules()) == 3  # none on D's first layer
    assert sum(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2 for m in D.modules()) == 4


def test_infogan_latent_comes_only_from_the_given_generator():
    arch = plugin_host("infogan").architectures.get("infogan")
    torch.manual_seed(0)
    G, _ = arch().build(MNIST, dict(arch.defaults))
    draws = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        draws.append(G.sample_latent(16, torch.Generator().manual_seed(3), "cpu"))
    assert torch.equal(draws[0], draws[1])
    z = draws[0]
    assert z.shape == (16, 62 + 10 + 2) == (16, G.z_dim)
    onehot = z[:, 62:72]
    assert torch.equal(onehot.sum(dim=1), torch.ones(16)) and set(onehot.unique().tolist()) == {0.0, 1.0}
    assert z[:, 72:].abs().max() <= 1


def test_biggan_splits_z_hierarchically():
    from ganbench_plugins.archs.biggan import z_chunks
    assert z_chunks(120, 4) == [30, 30, 30, 30]
    assert z_chunks(120, 3) == [40, 40, 40]
    assert z_chunks(10, 3) == [4, 3, 3]


def test_contract_defaults_to_a_supported_standard_shape():
    class MLPProbe(ArchitectureContract):
        architecture_name = entry_point = "mlp"

    class CGANProbe(ArchitectureContract):
        architecture_name = entry_point = "cgan"

    assert MLPProbe._data_infos()[0].kind == "points"
    (data,) = CGANProbe._data_infos()
    assert data.is_image and data.num_classes > 0


BIGAN_TINY = {"z_dim": 8, "points_z_dim": 2, "hidden": 16, "depth": 2, "ngf": 4, "nef": 4, "ndf": 4, "d_hidden": 16}


class TestBiGAN(ArchitectureContract):
    architecture_name = entry_point = "bigan"
    data_infos = (POINTS, MNIST, CIFAR)
    hparams_override = BIGAN_TINY


class TestALI(ArchitectureContract):
    architecture_name = "ali"
    entry_point = "bigan"  # one file, one entry point: ALI is BiGAN with a Gaussian encoder
    data_infos = (POINTS, STACKED)
    hparams_override = BIGAN_TINY


class TestSRGAN(ArchitectureContract):
    """A generator given a low-resolution image: the contract feeds it images of ``G.input_shape``."""
    architecture_name = entry_point = "srgan"
    data_infos = (MNIST, CIFAR)
    hparams_override = {"sr_ch": 8, "sr_blocks": 1, "sr_d_ch": 8, "sr_d_hidden": 16}


class TestPix2Pix(ArchitectureContract):
    """A generator given an image and a discriminator of (output, input) pairs."""
    architecture_name = entry_point = "pix2pix"
    data_infos = (MNIST, CIFAR)
    hparams_override = {"p2p_ngf": 8, "p2p_ndf": 8}


class TestSeqGAN(ArchitectureContract):
    """A generator of token sequences trained by policy gradient (the text task)."""
    architecture_name = entry_point = "seqgan"
    data_infos = (DataInfo(shape=(6,), kind="tokens", value_range=(0.0, 9.0), vocab_size=10),)
    hparams_override = {"sg_embedding": 4, "sg_hidden": 8, "sd_embedding": 4}
