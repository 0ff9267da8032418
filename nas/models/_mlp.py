"""Feed-forward blocks: SwiGLU (Shazeer, 2020) or a GELU MLP, without biases."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas.arch import MLPSpec
from nas.models._init import linear


class MLP(nn.Module):
    def __init__(self, d_model: int, mlp: MLPSpec, *, out_std: float) -> None:
        super().__init__()
        self.gated = mlp.kind == "swiglu"
        self.gate_proj = linear(d_model, mlp.d_ff) if self.gated else None
        self.up_proj = linear(d_model, mlp.d_ff)
        self.down_proj = linear(mlp.d_ff, d_model, std=out_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, L, d_model) -> (batch, L, d_model)."""
        if self.gate_proj is not None:
            hidden = F.silu(self.gate_proj(x)) * self.up_proj(x)
        else:
            hidden = F.gelu(self.up_proj(x))
        return self.down_proj(hidden)
