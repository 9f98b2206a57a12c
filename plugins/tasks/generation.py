"""Unconditional (and class-conditional) generation: the task every GAN paper of the zoo benchmarks.

The generator is given noise (``z``, and a class label for a conditional architecture) and learns
the distribution of one dataset's samples (Goodfellow et al., 2014, "Generative Adversarial Nets").
Its runs are scored by every metric that supports their dataset (FID and its kin, mode coverage,
memorisation, ...), and their leaderboard is the one ganbench has always written.
"""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.api import GENERATION, Task


class Generation(Task):
    """Samples from noise: G(z, y) against one dataset's samples."""

    name = GENERATION
    paper = ("Goodfellow, I. et al. (2014). Generative Adversarial Nets. NeurIPS 2014.")
    generator_input = "noise"
    needs = "samples"
    metrics = ()   # every metric that supports the dataset
    table = "Generation"


@hookimpl
def ganbench_register_tasks(registry):
    registry.add(Generation)
