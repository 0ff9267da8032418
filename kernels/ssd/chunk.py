"""The chunked PyTorch SSD: matmuls within each chunk, a sequential pass across chunks.

This is the state-space-duality formulation of Mamba-2. Cut the sequence into chunks of Q steps
and let ``cum`` be the running sum of dt * A inside each chunk. Then, per head:

* within a chunk, y_i = sum_{j <= i} (C_i . B_j) exp(cum_i - cum_j) dt_j x_j: a masked
  (Q, Q) "attention" matrix times x;
* each chunk's own contribution to the state at its end is
  sum_j exp(cum_last - cum_j) dt_j x_j B_j^T, a (p, n) matrix;
* a loop over chunks carries the state across them, S_in[c + 1] = exp(cum_last) S_in[c] + that;
* the state entering a chunk reaches position i as exp(cum_i) C_i S_in^T.

Every exponent is a difference of running sums of dt * A, each step's dt * A clamped to <= 0:
the sums then only fall along the chunk, so every exponent is <= 0 and nothing overflows. The
largest tensors are the per-chunk (Q, Q) matrices, (b, L, h, Q), and the chunk states,
(b, L / Q, h, p, n); never a (b, L, h, p, n) tensor. Autograd runs through plain ops.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kernels.ssd._common import skip_and_gate

# Chunks longer than this only add (Q, Q) work on a CPU: the result does not depend on the
# chunk length (up to rounding), so a larger chunk_size, tuned for GPU kernels, is capped here.
MAX_CHUNK = 64


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
    steps = max(1, min(chunk_size, MAX_CHUNK, length))
    # pad to whole chunks with dt = 0 and x = 0: a padded step leaves the state as it is
    pad = -length % steps
    chunks = (length + pad) // steps

    def chunked(t: torch.Tensor, *tail: int) -> torch.Tensor:  # (b, L, ...) -> (b, c, Q, ...)
        t = F.pad(t.float(), (0, 0) * (t.dim() - 2) + (0, pad))
        return t.reshape(batch, chunks, steps, *tail)

    # heads split as (g, h / g) so that a group's B and C serve all its heads in one matmul;
    # x enters every product as dt_j x_j, so dt is folded into it once
    dtx = chunked(x.float() * dt.float()[..., None], groups, per_group * headdim)  # (b,c,Q,g,hg*p)
    dtc = chunked(dt, groups, per_group).permute(0, 1, 3, 4, 2)  # (b, c, g, hg, Q)
    Bc = chunked(B, groups, nstate).transpose(2, 3)  # (b, c, g, Q, n)
    Cc = chunked(C, groups, nstate).transpose(2, 3)
    cum = torch.cumsum((dtc * A.float().reshape(groups, per_group, 1)).clamp(max=0.0), dim=-1)

    # within each chunk: (C_i . B_j) exp(cum_i - cum_j) dt_j x_j summed over j <= i. The mask
    # is added (-inf above the diagonal) and -cum negated while small: neither then costs a
    # (Q, Q) op in the backward
    above = torch.full((steps, steps), float("-inf"), device=x.device).triu(1)
    decay = (cum[..., :, None] + (-cum)[..., None, :] + above).exp()  # (b, c, g, hg, Q, Q)
    CB = torch.matmul(Cc, Bc.transpose(-1, -2))  # (b, c, g, Q, Q)
    per_head = dtx.reshape(batch, chunks, steps, groups, per_group, headdim).permute(
        0, 1, 3, 4, 2, 5
    )
    y = torch.matmul(CB[:, :, :, None] * decay, per_head)  # (b, c, g, hg, Q, p)

    # each chunk's own end state, then the sequential pass that carries states across chunks;
    # states are kept as (n, hg * p) per group, the layout the matmuls with B and C want
    to_end = (cum[..., -1:] - cum).exp()  # (b, c, g, hg, Q)
    to_end = to_end.permute(0, 1, 4, 2, 3).repeat_interleave(headdim, dim=-1)  # (b,c,Q,g,hg*p)
    own = torch.matmul(Bc.transpose(-1, -2), (dtx * to_end).transpose(2, 3))  # (b,c,g,n,hg*p)
    chunk_decay = cum[..., -1].exp().repeat_interleave(headdim, dim=-1)[..., None, :]
    if initial_states is None:
        state = own.new_zeros(batch, groups, nstate, per_group * headdim)
    else:
        state = initial_states.float().reshape(batch, groups, per_group * headdim, nstate)
        state = state.transpose(-1, -2)
    incoming = []
    # unbind, not indexing: the backward of an index allocates a zero tensor of the full size
    for decay_c, own_c in zip(chunk_decay.unbind(1), own.unbind(1), strict=True):
        incoming.append(state)
        state = decay_c * state + own_c
    states_in = torch.stack(incoming, dim=1)  # (b, c, g, n, hg * p)

    # the state entering each chunk, read out at every position with its decay so far
    carried = torch.matmul(Cc, states_in)  # (b, c, g, Q, hg * p)
    carried = carried.reshape(batch, chunks, groups, steps, per_group, headdim).transpose(3, 4)
    y = y + carried * cum.exp()[..., None]
    y = y.permute(0, 1, 4, 2, 3, 5).reshape(batch, chunks * steps, heads, headdim)[:, :length]
    state = state.transpose(-1, -2).reshape(batch, heads, headdim, nstate)
    # contiguous, like the other backends: the reshape above may return a strided view
    y = skip_and_gate(y, x, D, z).contiguous()
    return y, state
