"""Technique plugin: unrolled GAN."""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.api import Technique


class Unrolled(Technique):
    """Unrolled GAN: the generator is scored against a copy of D advanced k extra updates.

    Metz, Poole, Pfau and Sohl-Dickstein (2017), "Unrolled Generative Adversarial Networks", ICLR.
    Before each generator step, a copy of the discriminator (and of its optimiser state) takes
    ``unrolling_steps`` ordinary discriminator updates (5 in the paper's main experiments); the
    generator's loss is computed against that look-ahead copy, so the generator anticipates how D
    would respond and is discouraged from hopping between modes. The trainer's own D is unchanged.

    This is the first-order approximation: gradients do not flow back through the unrolled updates
    (the paper's full method differentiates through them). Each look-ahead update draws a fresh real
    batch and fresh latents, so the data order advances ``unrolling_steps`` batches per step; all of
    it is part of the saved trainer state, so resuming stays bit-identical.
    """

    name = "unrolled"
    paper = ("Metz, Poole, Pfau, Sohl-Dickstein (2017). Unrolled Generative Adversarial Networks. ICLR.")
    encoder_compatible = True  # its look-ahead updates are the trainer's own D update, pairs included
    vectorizable_seeds = True  # clones D and updates the clone through the StepContext, nothing else
    defaults = {"unrolling_steps": 5}
    hparam_docs = {
        "unrolling_steps": "look-ahead discriminator updates before each generator step (5 in the paper)",
    }
    hparam_limits = {
        "unrolling_steps": {"low": 1},
    }

    def discriminator_for_generator_step(self, ctx):
        steps = int(self.hparams["unrolling_steps"])
        if steps <= 0:
            return None
        D, opt = ctx.clone_discriminator()
        for _ in range(steps):
            ctx.discriminator_update(D, opt)
        return D


@hookimpl
def ganbench_register_techniques(registry):
    registry.add(Unrolled)
