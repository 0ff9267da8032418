"""The sequential SSD reference: one Python step per time index, every quantity in fp32.

It is the oracle the tests hold the other backends to, written for clarity rather than speed.
Inputs arrive checked; ``dt`` arrives already biased and softplussed (``_common.prepare_dt``).
"""

from __future__ import annotations

import torch

from kernels.ssd._common import skip_and_gate


def ssd_naive(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    initial_states: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, final_states): y (b, L, h, p) in fp32, final_states (b, h, p, n) in fp32.

    x (b, L, h, p); dt (b, L, h) with bias and softplus applied; A (h,); B, C (b, L, g, n).
    """
    batch, _, heads, headdim = x.shape
    per_group = heads // B.shape[2]
    x, dt, A = x.float(), dt.float(), A.float()
    # head h reads group h // per_group
    B = B.float().repeat_interleave(per_group, dim=2)  # (b, L, h, n)
    C = C.float().repeat_interleave(per_group, dim=2)
    decay = torch.exp(dt * A)  # (b, L, h)
    if initial_states is None:
        state = x.new_zeros(batch, heads, headdim, B.shape[-1])
    else:
        state = initial_states.float()
    ys = []
    steps = zip(decay.unbind(1), dt.unbind(1), x.unbind(1), B.unbind(1), C.unbind(1), strict=True)
    for decay_t, dt_t, x_t, b_t, c_t in steps:
        # S_t = a_t S_{t-1} + dt_t x_t B_t^T;  y_t = S_t C_t
        state = (
            decay_t[..., None, None] * state + (dt_t[..., None] * x_t)[..., None] * b_t[:, :, None]
        )
        ys.append((state * c_t[:, :, None]).sum(-1))
    y = torch.stack(ys, dim=1) if ys else x.new_zeros(x.shape)
    return skip_and_gate(y, x, D, z), state
