"""The reference causal depthwise conv1d: PyTorch's ``conv1d`` with one group per channel."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def causal_conv1d_naive(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, silu: bool
) -> torch.Tensor:
    """(batch, L, C) in fp32: x (batch, L, C), weight (C, K), bias (C,) or None."""
    taps = weight.shape[1]
    # channel-first for conv1d, left-padded by K - 1 so that no output sees the future
    y = F.conv1d(F.pad(x.float().transpose(1, 2), (taps - 1, 0)), weight.float()[:, None],
                 None if bias is None else bias.float(), groups=x.shape[2])  # fmt: skip
    y = y.transpose(1, 2)
    return F.silu(y) if silu else y
