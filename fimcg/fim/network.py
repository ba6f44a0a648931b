"""Building blocks of the FIM's network: attention, residual blocks, MLPs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head attention of queries (B, Lq, H) over keys/values (B, Lk, H)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        B, Lq, H = x.shape
        h = self.heads
        q = self.q(x).reshape(B, Lq, h, H // h).transpose(1, 2)
        k, v = self.kv(ctx).reshape(B, ctx.shape[1], 2, h, H // h).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(B, Lq, H))


class Block(nn.Module):
    """Pre-norm residual block: attention of x over a context, then an MLP."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm_x = nn.LayerNorm(dim)
        self.norm_c = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm_m = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor, ctx: torch.Tensor | None = None) -> torch.Tensor:
        c = self.norm_c(x if ctx is None else ctx)
        x = x + self.attn(self.norm_x(x), c)
        return x + self.mlp(self.norm_m(x))


def mlp(n_in: int, dim: int, n_out: int) -> nn.Sequential:
    """Two hidden GELU layers of width ``dim``: (..., n_in) -> (..., n_out)."""
    return nn.Sequential(nn.Linear(n_in, dim), nn.GELU(), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, n_out))
