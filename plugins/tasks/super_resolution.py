"""Single-image super-resolution: the generator is given a low-resolution image and draws it at 4x.

Ledig et al. (2017), "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
Network" (CVPR 2017), section 2.2: the generator minimises a perceptual loss, a content loss plus
10^-3 times the adversarial loss (equation 3), the content loss being the MSE of the images
(SRGAN-MSE) or of a pretrained network's feature maps (SRGAN-VGG22/54).

Kept: the objective (content + ``adversarial_weight`` x adversarial, 10^-3), both content losses.
Departure: the feature loss reads ganbench's own LeNet classifier of the dataset (its penultimate
features; ``ganbench.evaluators``), trained offline on the training split, where the paper reads
VGG19, whose weights this machine cannot download; the paper's rescaling of VGG features by 1/12.75
has no LeNet counterpart and is left out. The baseline row of every table is bicubic upsampling of the
same test inputs (the paper's first column).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganbench import hookimpl
from ganbench.api import Task

CONTENT_LOSSES = ("features", "mse")


class SuperResolution(Task):
    """4x super-resolution: G(low-resolution image) against its high-resolution target."""

    name = "super_resolution"
    paper = ("Ledig, C. et al. (2017). Photo-Realistic Single Image Super-Resolution Using a Generative "
             "Adversarial Network. CVPR 2017.")
    generator_input = "low_resolution"
    needs = "pairs"
    metrics = ("pixel_fidelity", "lenet_fidelity", "class_coverage")
    table = "Super-resolution"
    baseline_label = "bicubic upsampling (baseline)"
    defaults = {"content_loss": "features", "adversarial_weight": 1e-3}
    hparam_docs = {
        "content_loss": "features: MSE of the dataset classifier's features of output and target (SRGAN's "
                        "perceptual content loss, LeNet for VGG19); mse: MSE of the pixels (SRGAN-MSE)",
        "adversarial_weight": "weight of the adversarial term beside the content loss (10^-3 in the paper)",
    }
    hparam_limits = {"content_loss": {"choices": CONTENT_LOSSES}, "adversarial_weight": {"low": 0}}

    def __init__(self, hparams=None):
        super().__init__(hparams)   # the run's resolved hyperparameters: the core has applied the defaults
        self._features = None

    def prepare(self, dataset) -> None:
        if self.hparams["content_loss"] == "features":
            from ganbench.evaluators import get_evaluator
            net = get_evaluator(dataset, fingerprint=dataset.fingerprint()).net
            net.eval().requires_grad_(False)
            self._features = net

    def content(self, fake: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self._features is None:
            return F.mse_loss(fake, target)
        net = self._features.to(fake.device)
        return F.mse_loss(net.features_and_logits(fake)[0], net.features_and_logits(target)[0])

    def generator_objective(self, adversarial, fake, target, generate=None):
        return self.content(fake, target) + float(self.hparams["adversarial_weight"]) * adversarial

    def baseline(self, inputs: torch.Tensor) -> torch.Tensor:
        side = inputs.shape[-1] * 4
        return F.interpolate(inputs.float(), size=(side, side), mode="bicubic", align_corners=False).clamp(-1, 1)


@hookimpl
def ganbench_register_tasks(registry):
    registry.add(SuperResolution)
