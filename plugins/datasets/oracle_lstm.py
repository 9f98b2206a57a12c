"""Sequences from a randomly initialised "oracle" LSTM: the synthetic data of SeqGAN's experiment.

Yu, Zhang, Wang and Yu (2017), "SeqGAN: Sequence Generative Adversarial Nets with Policy Gradient",
section 5 (synthetic data experiments): an LSTM whose parameters are drawn from N(0, 1) plays the real
world; it generates the training sequences, and because its distribution is known exactly, the
negative log-likelihood of generated sequences under it (NLL-oracle) measures their quality.

Kept: an LSTM oracle with every parameter ~ N(0, 1), embedding and hidden size 32, sequences of 20
tokens, 10,000 training sequences. Scaled for a 2-core CPU: a vocabulary of 100 tokens instead of
5,000 (the generator's and D's cost grows with it; the oracle's distributions are then less spread,
so NLL values are not comparable with the paper's). Validation and test splits of 2,000 sequences
each are drawn from the oracle too, and :meth:`draw` gives fresh ones, so the real-data row scores
the oracle's own samples: its entropy rate, the floor of NLL-oracle for a generator as diverse as it.
The oracle's weights are a fixed-seed construction; nothing is downloaded.
"""

from __future__ import annotations

import torch

from ganbench import hookimpl
from ganbench.api import DataInfo, Dataset
from ganbench_plugins.archs._recurrent import TokenLSTM
from ganbench_plugins.datasets._common import check_split, split_seed

VOCAB_SIZE, LENGTH, EMBEDDING, HIDDEN = 100, 20, 32, 32
SIZES = {"train": 10_000, "val": 2_000, "test": 2_000}


class OracleLSTM(Dataset):
    """Token sequences (vocabulary 100, length 20) from a fixed random LSTM whose likelihood is known."""

    name = "oracle_lstm"
    paper = ("Yu, L., Zhang, W., Wang, J. and Yu, Y. (2017). SeqGAN: Sequence Generative Adversarial Nets "
             "with Policy Gradient. AAAI 2017 (section 5, the oracle LSTM).")
    info = DataInfo(shape=(LENGTH,), kind="tokens", value_range=(0.0, float(VOCAB_SIZE - 1)),
                    vocab_size=VOCAB_SIZE, exact_likelihood=True)
    sizes = SIZES
    _oracle: TokenLSTM | None = None
    _splits: dict[str, torch.Tensor] = {}

    @classmethod
    def oracle(cls) -> TokenLSTM:
        """The oracle network (built once per process; every parameter ~ N(0, 1) from a fixed seed)."""
        if cls._oracle is None:
            net = TokenLSTM(VOCAB_SIZE, LENGTH, EMBEDDING, HIDDEN)
            gen = torch.Generator().manual_seed(split_seed(cls.name, "oracle") % 2**63)
            with torch.no_grad():
                for _, p in sorted(net.named_parameters()):
                    p.copy_(torch.randn(p.shape, generator=gen))
            cls._oracle = net.eval().requires_grad_(False)
        return cls._oracle

    def _generate(self, n: int, purpose: str) -> torch.Tensor:
        gen = torch.Generator().manual_seed(split_seed(self.name, purpose) % 2**63)
        uniforms = torch.rand(n, LENGTH, generator=gen)
        with torch.no_grad():
            return self.oracle().sample(uniforms)

    def load(self, split: str):
        check_split(self.name, split)
        if split not in self._splits:
            type(self)._splits = {**self._splits, split: self._generate(SIZES[split], f"split:{split}")}
        return self._splits[split], None

    def draw(self, split: str, n: int, seed: int = 0):
        """Fresh sequences of the oracle (never in any split), any ``n``."""
        check_split(self.name, split)
        return self._generate(int(n), f"draw:{split}:{int(seed)}"), None, f"{n} fresh sequences of the oracle"

    def log_likelihood(self, samples: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([self.oracle().log_prob(chunk).sum(dim=1) for chunk in samples.split(2048)])


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(OracleLSTM)
