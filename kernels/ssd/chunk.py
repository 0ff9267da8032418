"""The chunked PyTorch SSD: matmuls within each chunk, a sequential pass across chunks.

This is the state-space-duality formulation of Mamba-2. Cut the sequence into chunks of Q steps
and let ``cum`` be the running sum of dt * A inside each chunk. Then, per head:

* within a chunk, y_i = sum_{j <= i} (C_i . B_j) exp(cum_i - cum_j) dt_j x_j: a masked
  (Q, Q) "attention" matrix times x;
* each chunk's own contribution to the state at its end is
  sum_j exp(cum_last - cum_j) dt_j x_j B_j^T, a (p, n) matrix;
* a loop over chunks carries the state across them, S_in[c + 1] = exp(cum_last) S_in[c] + that;
* the state entering a chunk reaches position i as exp(cum_i) C_i S_in^T.

Every exponent is a difference of cumulative sums of dt * A, clamped to <= 0, so nothing
overflows. The largest tensors are the per-chunk (Q, Q) matrices, (b, L, h, Q), and the chunk
states, (b, L / Q, h, p, n); never a (b, L, h, p, n) tensor. Autograd runs through plain ops.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kernels.ssd._common import skip_and_gate


def ssd_chunk(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    chunk_size: int,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    initial_states: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, final_states): y (b, L, h, p) in fp32, final_states (b, h, p, n) in fp32.

    x (b, L, h, p); dt (b, L, h) with bias and softplus applied; A (h,); B, C (b, L, g, n).
    """
    batch, length, heads, headdim = x.shape
    groups, nstate = B.shape[-2:]
    per_group = heads // groups
    steps = max(1, min(chunk_size, length))
    # pad to whole chunks with dt = 0 and x = 0: a padded step leaves the state as it is
    pad = -length % steps
    chunks = (length + pad) // steps

    def chunked(t: torch.Tensor, *tail: int) -> torch.Tensor:  # (b, L, ...) -> (b, c, Q, ...)
        t = F.pad(t.float(), (0, 0) * (t.dim() - 2) + (0, pad))
        return t.reshape(batch, chunks, steps, *tail)

    # heads split as (g, h / g) so that a group's B and C serve all its heads in one matmul
    xc = chunked(x, groups, per_group, headdim).permute(0, 1, 3, 4, 2, 5)  # (b, c, g, hg, Q, p)
    dtc = chunked(dt, groups, per_group).permute(0, 1, 3, 4, 2)  # (b, c, g, hg, Q)
    Bc = chunked(B, groups, nstate).transpose(2, 3)  # (b, c, g, Q, n)
    Cc = chunked(C, groups, nstate).transpose(2, 3)
    cum = torch.cumsum(dtc * A.float().reshape(groups, per_group, 1), dim=-1)

    # within each chunk: (C_i . B_j) exp(cum_i - cum_j) dt_j on and below the diagonal
    causal = torch.ones(steps, steps, dtype=torch.bool, device=x.device).tril()
    gaps = (cum[..., :, None] - cum[..., None, :]).clamp(max=0.0)
    decay = torch.where(causal, gaps, float("-inf")).exp()
    CB = torch.matmul(Cc, Bc.transpose(-1, -2))  # (b, c, g, Q, Q)
    y = torch.matmul(CB[:, :, :, None] * decay * dtc[..., None, :], xc)  # (b, c, g, hg, Q, p)

    # each chunk's own end state, then the sequential pass that carries states across chunks
    to_end = (cum[..., -1:] - cum).clamp(max=0.0).exp() * dtc
    weighted = (
        (xc * to_end[..., None])
        .transpose(-1, -2)
        .reshape(batch, chunks, groups, per_group * headdim, steps)
    )
    own = torch.matmul(weighted, Bc)  # (b, c, g, hg * p, n)
    chunk_decay = cum[..., -1].clamp(max=0.0).exp().repeat_interleave(headdim, dim=-1)[..., None]
    if initial_states is None:
        state = own.new_zeros(batch, groups, per_group * headdim, nstate)
    else:
        state = initial_states.float().reshape(batch, groups, per_group * headdim, nstate)
    incoming = []
    for c in range(chunks):
        incoming.append(state)
        state = chunk_decay[:, c] * state + own[:, c]
    states_in = torch.stack(incoming, dim=1)  # (b, c, g, hg * p, n)

    # the state entering each chunk, read out at every position with its decay so far
    carried = torch.matmul(Cc, states_in.transpose(-1, -2))  # (b, c, g, Q, hg * p)
    carried = carried.reshape(batch, chunks, groups, steps, per_group, headdim).transpose(3, 4)
    y = y + carried * cum.clamp(max=0.0).exp()[..., None]
    y = y.permute(0, 1, 4, 2, 3, 5).reshape(batch, chunks * steps, heads, headdim)[:, :length]
    # contiguous, like the other backends: the reshape above may return a strided view
    y = skip_and_gate(y, x, D, z).contiguous()
    return y, state.reshape(batch, heads, headdim, nstate)
