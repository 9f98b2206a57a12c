"""An LSTM language model over token sequences: SeqGAN's generator and its oracle share it.

Yu, Zhang, Wang and Yu (2017), "SeqGAN: Sequence Generative Adversarial Nets with Policy Gradient"
(AAAI 2017), section 4: the generator is an LSTM that reads the tokens generated so far and outputs
the next token's distribution through a softmax; the synthetic experiment's oracle is an LSTM of the
same form with randomly initialised parameters.

Token sequences are ``[B, L]`` float tensors of token ids (exact below 2^24), so they pass through
the harness's sample paths as every other sample does; the model casts them to indices where it
embeds them. Every sequence starts after a start token, an extra row of the embedding. Sampling is
by the inverse of each step's categorical CDF at a given uniform number, so a sequence is a pure
function of the model and its ``[B, L]`` uniform draws, which come from the caller's random stream.
"""

from __future__ import annotations

import torch
from torch import nn


class TokenLSTM(nn.Module):
    """Embedding (with a start token), one LSTM cell unrolled over the sequence, linear read-out."""

    def __init__(self, vocab_size: int, length: int, embedding: int, hidden: int):
        super().__init__()
        self.vocab_size, self.length = int(vocab_size), int(length)
        self.embed = nn.Embedding(self.vocab_size + 1, embedding)   # the last row is the start token
        self.cell = nn.LSTMCell(embedding, hidden)
        self.out = nn.Linear(hidden, self.vocab_size)

    def _start(self, batch: int, device) -> torch.Tensor:
        return torch.full((batch,), self.vocab_size, dtype=torch.long, device=device)

    def step_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[B, L, V]``: the next-token logits at every position given the true prefix (teacher forcing)."""
        ids = tokens.long()
        batch = ids.shape[0]
        state = None
        previous = self._start(batch, ids.device)
        logits = []
        for s in range(ids.shape[1]):
            state = self.cell(self.embed(previous), state)
            logits.append(self.out(state[0]))
            previous = ids[:, s]
        return torch.stack(logits, dim=1)

    def log_prob(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[B, L]``: the log-probability of each token of ``tokens`` given the tokens before it."""
        logp = torch.log_softmax(self.step_logits(tokens), dim=-1)
        return logp.gather(-1, tokens.long().unsqueeze(-1)).squeeze(-1)

    def _draw(self, uniforms: torch.Tensor, state, previous: torch.Tensor, start: int) -> torch.Tensor:
        """Tokens ``start..L-1`` drawn at ``uniforms[:, start:]`` from ``state`` after ``previous``."""
        drawn = []
        for s in range(start, uniforms.shape[1]):
            state = self.cell(self.embed(previous), state)
            cdf = torch.softmax(self.out(state[0]).float(), dim=-1).cumsum(dim=-1)
            token = torch.searchsorted(cdf, uniforms[:, s:s + 1].contiguous().float() * cdf[:, -1:])
            previous = token.squeeze(1).clamp_(max=self.vocab_size - 1)
            drawn.append(previous)
        return torch.stack(drawn, dim=1).float()

    def sample(self, uniforms: torch.Tensor) -> torch.Tensor:
        """Sequences ``[B, L]`` (float token ids) drawn at ``uniforms`` ``[B, L]`` in [0, 1)."""
        return self._draw(uniforms, None, self._start(uniforms.shape[0], uniforms.device), 0)

    def rollout(self, samples: torch.Tensor, prefix_length: int, uniforms: torch.Tensor) -> torch.Tensor:
        """Monte-Carlo completions ``[R * B, L]`` of the first ``prefix_length`` (>= 1) tokens of each of
        ``samples`` ``[B, L]``: row ``r * B + b`` keeps sequence b's prefix and draws the rest at its
        row of ``uniforms`` ``[R * B, L]`` (the prefix's positions are not read)."""
        ids = samples.long()
        batch, copies = ids.shape[0], uniforms.shape[0] // ids.shape[0]
        state, previous = None, self._start(batch, ids.device)
        for s in range(prefix_length - 1):     # the state before the prefix's last token, on B rows only
            state = self.cell(self.embed(previous), state)
            previous = ids[:, s]
        previous = ids[:, prefix_length - 1].repeat(copies)
        state = None if state is None else tuple(part.repeat(copies, 1) for part in state)
        drawn = self._draw(uniforms, state, previous, prefix_length)
        return torch.cat([samples[:, :prefix_length].repeat(copies, 1), drawn], dim=1)
