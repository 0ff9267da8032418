"""One SSD decode step: the recurrence applied to a single token.

Inputs arrive checked.
"""

from __future__ import annotations

import torch

from kernels.ssd._common import prepare_dt, skip_and_gate


def ssd_step_torch(
    state: torch.Tensor,
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    dt_bias: torch.Tensor | None = None,
    dt_softplus: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(y (b, h, p) in x's dtype, new_state (b, h, p, n) in state's dtype); fp32 inside."""
    per_group = x.shape[1] // B.shape[1]
    dt = prepare_dt(dt, dt_bias, dt_softplus)
    B = B.float().repeat_interleave(per_group, dim=1)  # (b, h, n)
    C = C.float().repeat_interleave(per_group, dim=1)
    x32 = x.float()
    decay = torch.exp(dt * A.float())
    new = decay[..., None, None] * state.float() + (dt[..., None] * x32)[..., None] * B[:, :, None]
    y = torch.matmul(new, C[..., None]).squeeze(-1)
    return skip_and_gate(y, x32, D, z).to(x.dtype), new.to(state.dtype)
