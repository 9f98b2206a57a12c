"""Every compatible architecture x loss x technique trains on the embedded data.

Every pair of plugins (the full product with GANBENCH_FULL_ZOO=1), at tiny widths and batch 8, two
steps each: this is what `ganbench run --all` relies on when it combines plugins that were never
written with each other in mind. Combinations the
plugins declare incompatible are skipped with their reason, and that reason must be a real sentence.
"""

import itertools
import math
import os

import pytest
import torch

from ganbench import plugins, runner
from ganbench.spec import Budget, RunSpec

HOST = plugins.load()
TINY = {  # widths small enough for the whole product to run in a couple of minutes on a CPU
    "mlp": {"z_dim": 8, "hidden": 16, "depth": 2, "image_hidden": 16, "image_depth": 2},
    "dcgan": {"z_dim": 8, "ngf": 4, "ndf": 4},
    "sngan_resnet": {"z_dim": 8, "g_ch": 4, "d_ch": 4, "n_critic": 1},
    "cgan": {"z_dim": 8, "g_z_hidden": 8, "g_y_hidden": 8, "g_hidden": 16, "d_x_units": 8, "d_y_units": 4,
             "d_units": 8},
    "sngan_projection": {"z_dim": 8, "g_ch": 4, "d_ch": 4, "n_critic": 1},
    "infogan": {"z_dim": 6, "fc": 16, "ngf": 4, "ndf": 4, "q_hidden": 8},
    "stylegan": {"z_dim": 8, "ch": 4, "d_ch": 4, "mapping_layers": 2},
    "biggan": {"z_dim": 12, "g_ch": 4, "d_ch": 4, "shared_dim": 4, "n_critic": 1},
    "sagan": {"z_dim": 8, "g_ch": 4, "d_ch": 4, "n_critic": 1},
    "progan": {"z_dim": 8, "progan_ch": 4, "n_critic": 1},
    "bigan": {"z_dim": 8, "hidden": 16, "depth": 2, "ngf": 4, "nef": 4, "ndf": 4, "d_hidden": 16},
    "ali": {"z_dim": 8, "hidden": 16, "depth": 2, "ngf": 4, "nef": 4, "ndf": 4, "d_hidden": 16},
    "srgan": {"sr_ch": 4, "sr_blocks": 1, "sr_d_ch": 4, "sr_d_hidden": 8, "content_loss": "mse"},
    "pix2pix": {"p2p_ngf": 4, "p2p_ndf": 4},
    "cyclegan": {"cg_ngf": 2, "cg_ndf": 2, "cg_blocks": 1},
    # the first step pre-trains (G by likelihood, D beside it), the second is a policy-gradient step
    "seqgan": {"sg_embedding": 4, "sg_hidden": 8, "sd_embedding": 4, "pretrain_steps": 1,
               "discriminator_pretrain_steps": 1, "rollouts": 2},
}
# points, labelled images, (low-resolution, image) pairs, two domains and token sequences: every architecture models
# one of them, under the first task it serves
DATASETS = ("ring8", "mnist5k", "mnist5k_x4", "mnist5k_edges", "mnist5k_digits28", "oracle_lstm")


# The default suite trains every architecture x loss on each dataset, every architecture with every
# technique (under the non-saturating loss, on the first dataset the architecture models: the image
# architectures bring each technique to MNIST-5k) and every loss with every technique (the MLP on the
# ring): each pair of plugins, and of a plugin and a dataset, meets. GANBENCH_FULL_ZOO=1 trains the whole three-way product
# (about 2.5x the cases; run it before a release).
FULL_PRODUCT = os.environ.get("GANBENCH_FULL_ZOO") == "1"
PAIR_LOSS, PAIR_ARCH, PAIR_DATASET = "nonsaturating", "mlp", "ring8"


def _task(arch: str) -> str:
    return HOST.architectures.get(arch).tasks[0]


def _first_dataset(arch: str) -> str | None:
    return next((d for d in DATASETS if runner.incompatibility(HOST, RunSpec(
        arch, PAIR_LOSS, d, 0, Budget("steps", 2), task=_task(arch))) is None), None)


def _combinations():
    for arch, loss, dataset in itertools.product(HOST.architectures.names(), HOST.losses.names(), DATASETS):
        for technique in (None, *HOST.techniques.names()):
            pair = (loss == PAIR_LOSS and dataset == _first_dataset(arch)) or (arch == PAIR_ARCH and dataset == PAIR_DATASET)
            if technique and not (FULL_PRODUCT or pair):
                continue
            spec = RunSpec(arch=arch, loss=loss, dataset=dataset, seed=0, budget=Budget("steps", 2),
                           techniques=(technique,) if technique else (), task=_task(arch))
            reason = runner.incompatibility(HOST, spec)
            if reason is None:
                yield pytest.param(spec, id=spec.name)
            elif technique is None:
                break  # the architecture cannot model this dataset at all


CASES = list(_combinations())


def test_every_architecture_and_loss_and_technique_is_covered():
    covered = {(c.values[0].arch, c.values[0].loss) for c in CASES}
    assert {a for a, _ in covered} == set(HOST.architectures.names())
    assert {lo for _, lo in covered} == set(HOST.losses.names())
    assert {t for c in CASES for t in c.values[0].techniques} == set(HOST.techniques.names())


@pytest.fixture(scope="module")
def data():
    out = {}
    for name in DATASETS:
        dataset = HOST.datasets.get(name)()
        x, y = dataset.load("train")
        inputs = dataset.load_inputs("train")[:64] if dataset.holds in ("pairs", "two domains") else None
        out[name] = (dataset.info, x[:64], None if y is None else y[:64], inputs)
    return out


@pytest.mark.parametrize("spec", CASES)
def test_trains_two_steps(spec, data):
    torch.set_num_threads(1)
    hparams = {**runner.resolve_hparams(HOST, spec), **TINY[spec.arch], "batch_size": 8,
               "instance_noise_steps": 4, "replay_buffer_size": 16, "unrolling_steps": 1}
    info, x, y, inputs = data[spec.dataset]
    from ganbench.training import Trainer
    trainer = Trainer(HOST.architectures.get(spec.arch)(), HOST.losses.get(spec.loss)(hparams),
                      [HOST.techniques.get(t)(hparams) for t in spec.techniques], info, x, y, hparams, seed=0,
                      task=HOST.tasks.get(spec.task)(hparams), train_inputs=inputs)
    for _ in range(2):
        losses = trainer.step()
    assert all(math.isfinite(float(v)) for v in losses.values()), losses
    G = trainer.evaluation_generator()
    z, labels = (inputs[:4], None) if inputs is not None else trainer.sample_latent(4)
    with torch.no_grad():
        assert G(z, labels).shape == (4, *info.shape)
