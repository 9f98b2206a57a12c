"""Technique plugin: a SAGAN self-attention block in the slots an architecture declares."""

from __future__ import annotations

from torch import nn

from ganbench import hookimpl
from ganbench.api import Technique
from ganbench_plugins.archs._attention import SelfAttention


class SelfAttentionTechnique(Technique):
    """Self-attention: a SAGAN attention block (gamma = 0 at start) in each slot G and D declare.

    Zhang, Goodfellow, Metaxas and Odena (2019), "Self-Attention Generative Adversarial Networks",
    ICML, section 3: every position of a feature map attends to all others, so G can coordinate
    distant details and D can check them. The block (``_attention.SelfAttention``, the one the
    ``sagan`` architecture uses) starts as the identity and learns how much to mix in.

    An architecture says where a block can go with ``attention_slots`` (see
    :class:`ganbench.api.Architecture`); the technique skips every architecture that declares none,
    including those whose attention is built in. The block's 1x1 convolutions are spectrally
    normalised when ``self_attention_spectral_norm`` is true (SAGAN normalises every layer of G and
    D), whatever the rest of the network does. Blocks are initialised from the global RNG while the
    trainer builds the networks, i.e. from the run's ``init`` stream.
    """

    name = "self_attention"
    paper = ("Zhang, H., Goodfellow, I., Metaxas, D. & Odena, A. (2019). Self-Attention Generative "
             "Adversarial Networks. ICML 2019, PMLR 97.")
    defaults = {"self_attention_spectral_norm": True}
    hparam_docs = {
        "self_attention_spectral_norm": "spectral normalisation on the inserted block's 1x1 convolutions (as in SAGAN)",
    }

    @classmethod
    def supports(cls, architecture, loss, data):
        if not data.is_image:
            return "self-attention attends over the positions of image feature maps; the data are not images"
        if not architecture.attention_slots:
            return f"{architecture.name} declares no free slot for a self-attention block (attention_slots)"
        return None

    def __init__(self, hparams):
        super().__init__(hparams)
        self.blocks_added = 0

    def wrap_generator(self, generator, data):
        self._fill_slots(generator)
        return generator

    def wrap_discriminator(self, discriminator, data):
        self._fill_slots(discriminator)
        if self.blocks_added == 0:  # G's turn came first: neither network had the declared slot
            raise ValueError("self_attention: the architecture declares attention_slots but neither of its "
                             "networks has an `attention_slot` module (see api.Architecture.attention_slots)")
        return discriminator

    def _fill_slots(self, network: nn.Module) -> None:
        # Every module owning a slot, wrapped or not: a wrapper (PacGAN, an ensemble of Ds) holds the
        # architecture's modules as children, each with its own slot.
        owners = [m for m in network.modules() if isinstance(m._modules.get("attention_slot"), nn.Sequential)]
        spectral = bool(self.hparams["self_attention_spectral_norm"])
        for owner in owners:
            if len(owner.attention_slot):
                raise ValueError(f"self_attention: the slot of {type(owner).__name__} already holds a block")
            owner.attention_slot.append(SelfAttention(int(owner.attention_channels), spectral))
            self.blocks_added += 1


@hookimpl
def ganbench_register_techniques(registry):
    registry.add(SelfAttentionTechnique)
