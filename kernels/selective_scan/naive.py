"""The sequential reference: one Python step per time index, every quantity in fp32.

It is the oracle the tests hold the other backends to, written for clarity rather than speed.
Inputs arrive checked and with B, C in grouped form (batch, groups, N, L).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def selective_scan_naive(
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
    """(y, last_state): y (batch, dim, L) in u's dtype, last_state (batch, dim, N) in fp32."""
    batch, dim, _ = u.shape
    per_group = dim // B.shape[1]
    u, delta, A = u.float(), delta.float(), A.float()
    if delta_bias is not None:
        delta = delta + delta_bias.float()[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    # channel d reads group d // per_group
    B = B.float().repeat_interleave(per_group, dim=1)  # (batch, dim, N, L)
    C = C.float().repeat_interleave(per_group, dim=1)
    decay = torch.exp(delta[:, :, None, :] * A[:, :, None])  # (batch, dim, N, L)
    drive = (delta * u)[:, :, None, :] * B
    h = u.new_zeros(batch, dim, A.shape[1])
    ys = []
    # unbind, not indexing: its backward is one stack, not a full-size zero tensor per step
    for decay_t, drive_t, c_t in zip(decay.unbind(-1), drive.unbind(-1), C.unbind(-1), strict=True):
        h = decay_t * h + drive_t
        ys.append((h * c_t).sum(-1))
    y = torch.stack(ys, dim=-1) if ys else u * 0  # L = 0: empty, still in the graph
    if D is not None:
        y = y + u * D.float()[:, None]
    if z is not None:
        y = y * F.silu(z.float())
    return y, h
