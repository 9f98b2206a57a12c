"""SeqGAN (Yu et al., 2017): an LSTM generator of token sequences and a CNN discriminator of them."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from ganbench import hookimpl
from ganbench.api import Architecture, DataInfo
from ganbench_plugins.archs._recurrent import TokenLSTM

# (window, filters) of D's convolutions: the paper's windows 1-5, 10, 15 and 20 (of its 1-10, 15, 20),
# with about a sixth of its filters (100-200 each).
WINDOWS = ((1, 16), (2, 32), (3, 32), (4, 32), (5, 32), (10, 16), (15, 16), (20, 16))


class Generator(TokenLSTM):
    """The LSTM language model; a sample is drawn at ``[n, L]`` uniform numbers (its latent)."""

    def __init__(self, vocab_size: int, length: int, embedding: int, hidden: int):
        super().__init__(vocab_size, length, embedding, hidden)
        self.conditional = False
        self.z_dim = length
        for p in self.parameters():   # the paper's code initialises every weight ~ N(0, 0.1)
            nn.init.normal_(p, std=0.1)

    def sample_latent(self, n: int, generator: torch.Generator, device) -> torch.Tensor:
        return torch.rand(n, self.length, generator=generator, device=generator.device).to(device)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.sample(z)


class Highway(nn.Module):
    """y = t * relu(W x) + (1 - t) * x, t = sigmoid(W_t x) (Srivastava, Greff and Schmidhuber 2015)."""

    def __init__(self, width: int):
        super().__init__()
        self.transform, self.gate = nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.sigmoid(self.gate(x))
        return t * torch.relu(self.transform(x)) + (1 - t) * x


class Discriminator(nn.Module):
    """Embedding, one convolution per window width with max-over-time pooling, a highway layer, a logit."""

    def __init__(self, vocab_size: int, length: int, embedding: int, windows=WINDOWS):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding)
        self.convs = nn.ModuleList(nn.Conv1d(embedding, filters, window) for window, filters in windows
                                   if window <= length)
        width = sum(conv.out_channels for conv in self.convs)
        self.highway = Highway(width)
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        e = self.embed(x.long()).transpose(1, 2)                      # [B, E, L]
        pooled = torch.cat([torch.relu(conv(e)).amax(dim=2) for conv in self.convs], dim=1)
        return self.head(self.highway(pooled)).squeeze(1)


class SeqGAN(Architecture):
    """SeqGAN (Yu et al., 2017): LSTM generator, CNN discriminator with highway, for the text task.

    Paper: AAAI 2017, sections 3-5 and its code's settings. Kept: the generator (token embedding and
    hidden state of 32, one LSTM layer, softmax read-out; weights ~ N(0, 0.1); Adam at lr 0.01),
    the discriminator (token embedding, convolutions of several window widths with max-over-time
    pooling, a highway layer, one logit; Adam at lr 1e-4), batch 64. The policy gradient with
    Monte-Carlo rollouts and the maximum-likelihood pre-training are the ``text`` task's.

    Departures, for a 2-core CPU: D's embedding is 16 (paper 64) with the windows of ``WINDOWS`` (about
    a sixth of the paper's filters); no dropout and no L2 term on D (dropout would draw from the
    global random stream; the loss plugin's game is used as it is); ``n_critic`` = 5 discriminator
    batches per generator update where the paper trains D for 15 epochs of generated data per update.
    """

    name = "seqgan"
    paper = ("Yu, L., Zhang, W., Wang, J. and Yu, Y. (2017). SeqGAN: Sequence Generative Adversarial Nets "
             "with Policy Gradient. AAAI 2017.")
    tasks = ("text",)
    samples_latent = True
    defaults = {"batch_size": 64, "lr_g": 1e-2, "lr_d": 1e-4, "beta1": 0.9, "beta2": 0.999,
                "n_critic": 5, "sg_embedding": 32, "sg_hidden": 32, "sd_embedding": 16}
    hparam_docs = {"sg_embedding": "the generator's token embedding size",
                   "sg_hidden": "the generator's LSTM hidden size",
                   "sd_embedding": "the discriminator's token embedding size"}
    hparam_limits = {"sg_embedding": {"low": 1}, "sg_hidden": {"low": 1}, "sd_embedding": {"low": 1}}

    @classmethod
    def supports(cls, data: DataInfo) -> str | None:
        if data.kind != "tokens" or len(data.shape) != 1 or data.vocab_size < 1:
            return f"{cls.name} needs token sequences, not {data.kind} data of shape {tuple(data.shape)}"
        return None

    def build(self, data: DataInfo, hparams: Mapping[str, Any]) -> tuple[nn.Module, nn.Module]:
        h = hparams  # the run's resolved hyperparameters: the core has applied the defaults
        length = data.shape[0]
        return (Generator(data.vocab_size, length, int(h["sg_embedding"]), int(h["sg_hidden"])),
                Discriminator(data.vocab_size, length, int(h["sd_embedding"])))


@hookimpl
def ganbench_register_architectures(registry):
    registry.add(SeqGAN)
