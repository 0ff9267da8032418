"""Causal self-attention: GQA, RoPE, and an optional sliding window.

Query t attends to keys t - window + 1 .. t (all earlier keys without a window), the mask
``nas.compute`` counts (query, key) pairs with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas.arch import AttentionSpec
from nas.models._init import linear


class Attention(nn.Module):
    def __init__(self, d_model: int, attention: AttentionSpec, *, out_std: float) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads = attention.n_heads, attention.n_kv_heads
        self.head_dim = attention.head_dim(d_model)
        self.window = attention.window
        self.q_proj = linear(d_model, self.n_heads * self.head_dim)
        self.k_proj = linear(d_model, self.n_kv_heads * self.head_dim)
        self.v_proj = linear(d_model, self.n_kv_heads * self.head_dim)
        self.o_proj = linear(self.n_heads * self.head_dim, d_model, std=out_std)
        self.rope = RotaryEmbedding(self.head_dim, attention.rope_theta) if attention.rope else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, L, d_model) -> (batch, L, d_model)."""
        batch, length, _ = x.shape
        # (batch, heads, L, head_dim), the layout scaled_dot_product_attention takes
        q = self.q_proj(x).view(batch, length, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(batch, length, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(batch, length, self.n_kv_heads, self.head_dim).transpose(1, 2)
        if self.rope is not None:
            cos, sin = self.rope(length, x.device, q.dtype)
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        mask = sliding_window_mask(length, self.window, x.device)
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            is_causal=mask is None,
            enable_gqa=self.n_kv_heads != self.n_heads,
        )
        return self.o_proj(y.transpose(1, 2).reshape(batch, length, -1))


def sliding_window_mask(
    length: int, window: int | None, device: torch.device
) -> torch.Tensor | None:
    """Boolean (L, L) mask, True where query i may attend to key j: i - window < j <= i.
    None when the window covers the whole sequence (plain causal attention is faster)."""
    if window is None or window >= length:
        return None
    positions = torch.arange(length, device=device)
    offset = positions[:, None] - positions[None, :]
    return (offset >= 0) & (offset < window)


class RotaryEmbedding(nn.Module):
    """RoPE (Su et al., 2021), rotate-half convention: channel i pairs with i + head_dim/2."""

    def __init__(self, head_dim: int, theta: float) -> None:
        super().__init__()  # ArchSpec guarantees an even head_dim when RoPE is on
        inv_freq = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(
        self, length: int, device: torch.device, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin tables, (L, head_dim) each."""
        angles = torch.outer(
            torch.arange(length, device=device, dtype=torch.float32), self.inv_freq
        )
        angles = torch.cat((angles, angles), dim=-1)
        return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each (i, i + head_dim/2) channel pair of x (..., L, head_dim) by its position's angle."""
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-second, first), dim=-1) * sin
