"""One seed determines everything; each purpose draws from its own stream.

Streams are derived by hashing ``(seed, purpose)``, so adding a new purpose never shifts the numbers
another purpose sees. Purposes: ``init`` (weights), ``data`` (batch order), ``latent`` (training noise
and fake labels), ``technique`` (instance noise, augmentation, replay), ``eval`` (evaluation noise).
"""

from __future__ import annotations

import hashlib

import torch

PURPOSES = ("init", "data", "latent", "technique", "eval")


def derive_seed(seed: int, purpose: str) -> int:
    digest = hashlib.sha256(f"ganbench:{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def make_generator(seed: int, purpose: str, device: str | torch.device = "cpu") -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(seed, purpose))
    return gen
