"""One decode step of the selective scan: the recurrence applied to a single token.

Inputs arrive checked and with B, C in grouped form (batch, groups, N).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def selective_scan_step_torch(
    state: torch.Tensor,
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(y (batch, dim) in u's dtype, new_state (batch, dim, N) in state's dtype)."""
    per_group = u.shape[1] // B.shape[1]
    u32, delta = u.float(), delta.float()
    if delta_bias is not None:
        delta = delta + delta_bias.float()
    if delta_softplus:
        delta = F.softplus(delta)
    B = B.float().repeat_interleave(per_group, dim=1)  # (batch, dim, N)
    C = C.float().repeat_interleave(per_group, dim=1)
    h = torch.exp(delta[..., None] * A.float()) * state.float() + (delta * u32)[..., None] * B
    y = (h * C).sum(-1)
    if D is not None:
        y = y + u32 * D.float()
    if z is not None:
        y = y * F.silu(z.float())
    return y.to(u.dtype), h.to(state.dtype)
