"""Technique plugin: annealed instance noise."""

from __future__ import annotations

import torch

from ganbench import hookimpl
from ganbench.api import Technique


class InstanceNoise(Technique):
    """Instance noise: Gaussian noise on every discriminator input, annealed linearly to zero.

    Sønderby, Caballero, Theis, Shi and Huszár (2017), "Amortised MAP Inference for Image
    Super-resolution", ICLR; motivated by Arjovsky and Bottou (2017), "Towards Principled Methods for
    Training Generative Adversarial Networks", ICLR. Blurring both distributions with the same noise
    makes their supports overlap, so the discriminator cannot separate them perfectly and the
    generator's gradient does not vanish. The noise is removed over training so that the model is
    fitted to the clean data in the end.

    ``sigma(step) = instance_noise_std * max(0, 1 - step / instance_noise_steps)`` in data units
    ([-1, 1] images, raw points). Reals and fakes get independent draws, in the discriminator steps
    and in the generator step, all from the technique stream ``ctx.rng``. The starting ``0.1`` is our
    choice for data in [-1, 1]; the papers anneal to zero but fix no value for this scale.
    """

    name = "instance_noise"
    paper = ("Sønderby, Caballero, Theis, Shi, Huszár (2017). Amortised MAP Inference for Image "
             "Super-resolution. ICLR. / Arjovsky, Bottou (2017). Towards Principled Methods for "
             "Training Generative Adversarial Networks. ICLR.")
    defaults = {"instance_noise_std": 0.1, "instance_noise_steps": 10_000}
    hparam_docs = {
        "instance_noise_std": "standard deviation of the noise at step 0, in data units",
        "instance_noise_steps": "steps over which the noise is annealed linearly to zero",
    }
    hparam_limits = {
        "instance_noise_std": {"low": 0},
        "instance_noise_steps": {"low": 1},
    }

    def sigma(self, step: int) -> float:
        steps = max(int(self.hparams["instance_noise_steps"]), 1)
        return float(self.hparams["instance_noise_std"]) * max(0.0, 1.0 - step / steps)

    def discriminator_input(self, x, ctx):
        sigma = self.sigma(ctx.step)
        if sigma == 0.0:
            return x
        gen = ctx.rng
        noise = torch.randn(x.shape, generator=gen, device=gen.device, dtype=x.dtype).to(x.device)
        return x + sigma * noise


@hookimpl
def ganbench_register_techniques(registry):
    registry.add(InstanceNoise)
