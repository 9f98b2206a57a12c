"""Paired image-to-image translation: the generator is given an image and draws its counterpart.

Isola, Zhu, Zhou & Efros (2017), "Image-to-Image Translation with Conditional Adversarial Networks"
(pix2pix), section 3.1: G minimises the conditional GAN objective plus lambda times the L1 distance
to the target (equation 4), lambda = 100 (section 4), and D judges (input, output) pairs. Kept:
the objective and lambda. The D that sees the input is the architecture's declaration
(``discriminator_sees_input``), the adversarial game the loss plugin's.
"""

from __future__ import annotations

import torch

from ganbench import hookimpl
from ganbench.api import Task


class PairedTranslation(Task):
    """Paired translation (pix2pix): G(input image) against its target, adversarial + lambda L1."""

    name = "paired_translation"
    paper = ("Isola, P., Zhu, J.-Y., Zhou, T. & Efros, A. A. (2017). Image-to-Image Translation with "
             "Conditional Adversarial Networks. CVPR 2017.")
    generator_input = "image"
    needs = "pairs"
    metrics = ("pixel_fidelity", "lenet_fidelity", "class_coverage")
    table = "Paired translation"
    defaults = {"l1_weight": 100.0}
    hparam_docs = {"l1_weight": "lambda, the weight of the L1 distance to the target beside the adversarial term"}
    hparam_limits = {"l1_weight": {"low": 0}}

    def generator_objective(self, adversarial, fake, target, generate=None):
        return adversarial + float(self.hparams["l1_weight"]) * (fake - target).abs().mean()


@hookimpl
def ganbench_register_tasks(registry):
    registry.add(PairedTranslation)
