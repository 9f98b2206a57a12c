"""Unpaired image-to-image translation: the generator translates each domain into the other, with no pairs.

Zhu, Park, Isola & Efros (2017), "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks" (CycleGAN), section 3: two adversarial games (one per target domain) plus the
cycle-consistency loss lambda (|G_BA(G_AB(a)) - a|_1 + |G_AB(G_BA(b)) - b|_1), lambda = 10
(equation 3, section 4); section 5.2 adds the identity loss |G_BA(a) - a|_1 + |G_AB(b) - b|_1 at
weight 0.5 lambda for colour-preserving tasks. Kept: both terms and both weights, as means over the
pixels of both domains (the paper's L1 norms are means too, in its code).

Data: a ``two domains`` dataset, one image of each domain side by side in a joint sample; the
generator (``cyclegan``) maps (a | b) to (G_BA(b) | G_AB(a)), so applying it twice is the cycle and
applying it to the swapped sample (b | a) gives (G_BA(a) | G_AB(b)), the identity term's outputs.
"""

from __future__ import annotations

import torch

from ganbench import hookimpl
from ganbench.api import Task


def swap_halves(x: torch.Tensor) -> torch.Tensor:
    """(a | b) -> (b | a) for joint samples ``[B, C, H, 2W]``."""
    a, b = x.tensor_split(2, dim=-1)
    return torch.cat([b, a], dim=-1)


class UnpairedTranslation(Task):
    """Unpaired translation (CycleGAN): both directions at once, adversarial + cycle + identity terms."""

    name = "unpaired_translation"
    paper = ("Zhu, J.-Y., Park, T., Isola, P. & Efros, A. A. (2017). Unpaired Image-to-Image Translation "
             "using Cycle-Consistent Adversarial Networks. ICCV 2017.")
    generator_input = "image"
    needs = "two domains"
    metrics = ("cycle_translation",)
    table = "Unpaired translation"
    # No translation at all: each half judged as the other domain as it is (the domain gap), a cycle
    # error of 0, label preservation = how well one domain's classifier reads the other's digits.
    baseline_label = "identity (no translation; baseline)"
    defaults = {"cycle_weight": 10.0, "identity_weight": 5.0}
    hparam_docs = {"cycle_weight": "lambda, the weight of the cycle-consistency L1 term (10 in the paper)",
                   "identity_weight": "weight of the identity L1 term (0.5 lambda = 5 in the paper; 0: off)"}
    hparam_limits = {"cycle_weight": {"low": 0}, "identity_weight": {"low": 0}}

    def generator_objective(self, adversarial, fake, target, generate=None):
        loss = adversarial
        cycle_weight, identity_weight = float(self.hparams["cycle_weight"]), float(self.hparams["identity_weight"])
        if cycle_weight:
            loss = loss + cycle_weight * (generate(fake) - target).abs().mean()
        if identity_weight:
            loss = loss + identity_weight * (generate(swap_halves(target)) - target).abs().mean()
        return loss

    def baseline(self, inputs: torch.Tensor) -> torch.Tensor:
        return swap_halves(inputs)   # G(a | b) = (b | a): each image offered, untranslated, as the other domain's


@hookimpl
def ganbench_register_tasks(registry):
    registry.add(UnpairedTranslation)
