"""The self-attention block of SAGAN (Zhang, Goodfellow, Metaxas & Odena, 2019), shared by the ``sagan``
architecture and the ``self_attention`` technique (a helper module: not a plugin, no entry point)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def _conv1x1(cin: int, cout: int, spectral: bool) -> nn.Module:
    # The paper's f, g, h and v are plain matrices (W x, no bias term), applied per position.
    conv = nn.Conv2d(cin, cout, 1, bias=False)
    nn.init.xavier_uniform_(conv.weight)
    return spectral_norm(conv) if spectral else conv


class SelfAttention(nn.Module):
    """``y = x + gamma * v(sum_i beta_ji h(x_i))``, with ``beta_j = softmax_i(f(x_i) . g(x_j))``.

    Section 3 of "Self-Attention Generative Adversarial Networks" (ICML 2019): every position j of a
    ``[B, C, H, W]`` feature map takes a weighted sum over all positions i of a value map, weighted by
    how well its query matches their keys. Query g, key f and value h are 1x1 convolutions to
    C/8 channels (the paper's C-bar = C/8; at least 1 here, for the test suite's narrow networks),
    v a 1x1 convolution back to C. ``gamma`` starts at 0, so the block starts as the identity and
    the network first relies on local cues and learns to weigh distant ones gradually (the
    paper's reason). ``spectral``: spectral norm on the four convolutions, as SAGAN applies it
    to every layer of G and D.
    """

    def __init__(self, channels: int, spectral: bool = True):
        super().__init__()
        reduced = max(channels // 8, 1)
        self.query = _conv1x1(channels, reduced, spectral)   # the paper's g
        self.key = _conv1x1(channels, reduced, spectral)     # the paper's f
        self.value = _conv1x1(channels, reduced, spectral)   # the paper's h
        self.out = _conv1x1(reduced, channels, spectral)     # the paper's v
        self.gamma = nn.Parameter(torch.zeros(()))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, N, N]`` with ``N = H * W``: row j holds beta_j, the weights of every position i (sums to 1)."""
        q = self.query(x).flatten(2)                          # [B, C/8, N]
        k = self.key(x).flatten(2)                            # [B, C/8, N]
        return torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # scores s_ij = f(x_i) . g(x_j), over i

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        beta = self.attention(x)
        v = self.value(x).flatten(2)                          # [B, C/8, N]
        attended = (v @ beta.transpose(1, 2)).view(b, -1, h, w)  # column j = sum_i beta_ji h(x_i)
        return x + self.gamma * self.out(attended)
