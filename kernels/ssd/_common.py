"""Elementwise pieces every SSD backend shares: the dt transform and the D skip / z gate."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def prepare_dt(dt: torch.Tensor, dt_bias: torch.Tensor | None, dt_softplus: bool) -> torch.Tensor:
    """dt in fp32, plus dt_bias (over its last axis, heads), through softplus when asked."""
    dt = dt.float()
    if dt_bias is not None:
        dt = dt + dt_bias.float()
    if dt_softplus:
        dt = F.softplus(dt)
    return dt


def skip_and_gate(
    y: torch.Tensor, x: torch.Tensor, D: torch.Tensor | None, z: torch.Tensor | None
) -> torch.Tensor:
    """y + D * x, then gated by silu(z); x, y (..., h, p), D (h,) or (h, p), all in fp32."""
    if D is not None:
        D = D.float()
        y = y + x.float() * (D[:, None] if D.dim() == 1 else D)
    if z is not None:
        y = y * F.silu(z.float())
    return y
