"""The chunked PyTorch selective scan: eager ops only, any device, with a hand-written backward.

Layout: time-major and grouped, (batch, L, G, N, dim // G) for states, so that one time step
is a contiguous (N, dim // G) tile per group, and the sums over N (with C, B and A) run along
whole rows of channels rather than along a short innermost axis.

The sequence is cut into blocks of ``BLOCK`` steps, processed one after the other: only one
block's states, (batch, BLOCK, N, dim), exist at a time, and the forward keeps just the state
at each block start for the backward, which recomputes a block's states from it. Memory thus
grows as N * L / BLOCK per channel, not N * L.

Within a block the linear recurrence h_t = a_t * h_{t-1} + x_t is solved in two levels, so that
Python loops run over ``SUB`` positions rather than over L:
  1. each sub-chunk of ``SUB`` steps is scanned from a zero state, all sub-chunks at once,
     giving the state each would end with on its own;
  2. a short loop over sub-chunks carries the true state across them, using the sub-chunk's
     total decay exp(A * sum(delta)) (an exponent <= 0 as A <= 0);
  3. each sub-chunk is scanned again from its true incoming state, all sub-chunks at once.
Every factor is a product of decays exp(delta * A) <= 1, so nothing can overflow, unlike the
exp(cumsum) / exp(-cumsum) factorisation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SUB = 16  # steps per sub-chunk: the length of the vectorised Python loops
BLOCK = 128  # steps per block: the unit of memory and of recomputation in the backward


def selective_scan_chunk(
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
    """(y, last_state): y (batch, dim, L) in fp32, last_state (batch, dim, N) in fp32.

    B, C arrive grouped, (batch, G, N, L). The elementwise parts (bias, softplus, D, z) stay
    with autograd; the scan itself is :class:`_ChunkedScan`.
    """
    batch, dim, length = u.shape
    groups, nstate = B.shape[1], A.shape[1]
    u32 = u.float()
    dt = delta.float()
    if delta_bias is not None:
        dt = dt + delta_bias.float()[:, None]
    if delta_softplus:
        dt = F.softplus(dt)
    # pad to whole sub-chunks with delta = 0 and u = 0: a padded step keeps the state as it is
    pad = -length % SUB

    def time_major(t: torch.Tensor) -> torch.Tensor:  # (batch, X, L) -> (batch, L + pad, X)
        return F.pad(t.float(), (0, pad)).transpose(1, 2)

    per_group = dim // groups
    y, last = _ChunkedScan.apply(
        time_major(u32).reshape(batch, length + pad, groups, per_group),
        time_major(dt).reshape(batch, length + pad, groups, per_group),
        A.float().reshape(groups, per_group, nstate).transpose(1, 2),
        time_major(B.reshape(batch, groups * nstate, length)).reshape(
            batch, length + pad, groups, nstate
        ),
        time_major(C.reshape(batch, groups * nstate, length)).reshape(
            batch, length + pad, groups, nstate
        ),
    )
    y = y.reshape(batch, length + pad, dim)[:, :length].transpose(1, 2).contiguous()
    if D is not None:
        y = y + u32 * D.float()[:, None]
    if z is not None:
        y = y * F.silu(z.float())
    return y, last.transpose(-1, -2).reshape(batch, dim, nstate)


class _ChunkedScan(torch.autograd.Function):
    """y_t = C_t . h_t with h_t = exp(dt_t * A) h_{t-1} + dt_t u_t B_t, from h_{-1} = 0.

    Inputs, time-major and grouped: u, dt (batch, L, G, P); A (G, N, P); B, C (batch, L, G, N),
    with L a multiple of SUB. Outputs y (batch, L, G, P) and the last state (batch, G, N, P).
    Block-sized work tensors are allocated once per call and reused by every block: fresh
    multi-megabyte temporaries per op cost more in page faults than the arithmetic.
    """

    @staticmethod
    def forward(ctx, u, dt, A, B, C):  # type: ignore[override]
        u, dt, A, B, C = (t.contiguous() for t in (u, dt, A, B, C))
        blocks = _blocks(u.shape[1])
        decay, states, scratch = _workspace(u, A, 3)
        state = u.new_zeros(decay.shape[0], *decay.shape[2:])
        starts = u.new_empty(state.shape[0], len(blocks), *state.shape[1:])
        y = torch.empty_like(u)
        for index, block in enumerate(blocks):
            starts[:, index] = state
            steps = block.stop - block.start
            dec, h, tmp = decay[:, :steps], states[:, :steps], scratch[:, :steps]
            totals = _prepare(u[:, block], dt[:, block], A, B[:, block], dec, h)
            _scan_forward(dec, h, totals, state)
            torch.sum(torch.mul(h, C[:, block, :, :, None], out=tmp), -2, out=y[:, block])
            state = h[:, -1].clone()
        ctx.save_for_backward(u, dt, A, B, C, starts)
        # the backward starts with the last block: its decays and states are kept for it
        # (one block, the memory the backward needs anyway), sparing their recomputation
        ctx.last_block = (decay, states)
        return y, state

    @staticmethod
    def backward(ctx, grad_y, grad_last):  # type: ignore[override]
        u, dt, A, B, C, starts = ctx.saved_tensors
        kept, ctx.last_block = ctx.last_block, None  # a second backward (retain_graph) recomputes
        decay, states = kept if kept is not None else _workspace(u, A, 2)
        grad_y = grad_y.contiguous()
        grad_u, grad_dt = torch.empty_like(u), torch.empty_like(dt)
        grad_B, grad_C = torch.empty_like(B), torch.empty_like(C)
        grad_A = torch.zeros_like(A)
        grads, scratch = torch.empty_like(decay), torch.empty_like(decay)
        # carry = decay of the next step * grad of the next state; past the end it is the
        # grad of the last state (padded steps have decay 1 and no input)
        carry = grad_last.clone() if grad_last is not None else torch.zeros_like(starts[:, 0])
        blocks = list(enumerate(_blocks(u.shape[1])))
        for index, block in reversed(blocks):
            steps = block.stop - block.start
            dec, h, r, tmp = (
                decay[:, :steps],
                states[:, :steps],
                grads[:, :steps],
                scratch[:, :steps],
            )
            u_b, dt_b, B_b, C_b, gy = (
                u[:, block],
                dt[:, block],
                B[:, block],
                C[:, block],
                grad_y[:, block],
            )
            start = starts[:, index]
            if kept is not None and index == len(blocks) - 1:  # still there from the forward
                totals = _totals(dt_b, A)
            else:
                totals = _prepare(u_b, dt_b, A, B_b, dec, h)
                _scan_forward(dec, h, totals, start)
            # grad of each state: its read-out C_t * gy_t plus what flows back from h_{t+1}
            torch.mul(gy[:, :, :, None, :], C_b[..., None], out=r)
            carry = _scan_backward(dec, r, totals, carry)
            torch.sum(torch.mul(h, gy[:, :, :, None, :], out=tmp), -1, out=grad_C[:, block])
            dtu = dt_b * u_b
            torch.sum(torch.mul(r, dtu[:, :, :, None, :], out=tmp), -1, out=grad_B[:, block])
            grad_dtu = torch.mul(r, B_b[..., None], out=tmp).sum(-2)
            # grad of the log-decay dt * A is r_t * decay_t * h_{t-1}; built in the decay buffer
            dec[:, 1:].mul_(h[:, :-1])
            dec[:, 0].mul_(start)
            grad_log_decay = dec.mul_(r)
            torch.mul(grad_dtu, dt_b, out=grad_u[:, block])
            torch.sum(torch.mul(grad_log_decay, A, out=tmp), -2, out=grad_dt[:, block])
            grad_dt[:, block].addcmul_(grad_dtu, u_b)
            grad_A += torch.mul(grad_log_decay, dt_b[:, :, :, None, :], out=tmp).sum((0, 1))
        return grad_u, grad_dt, grad_A, grad_B, grad_C


def _blocks(length: int) -> list[slice]:
    return [slice(start, min(start + BLOCK, length)) for start in range(0, length, BLOCK)]


def _workspace(u: torch.Tensor, A: torch.Tensor, count: int) -> list[torch.Tensor]:
    """``count`` uninitialised (batch, block, G, N, P) tensors."""
    batch, length, groups, per_group = u.shape
    shape = (batch, min(BLOCK, length), groups, A.shape[1], per_group)
    return [u.new_empty(shape) for _ in range(count)]


def _prepare(
    u: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    decay: torch.Tensor,
    drive: torch.Tensor,
) -> torch.Tensor:
    """Fill ``decay`` with exp(dt_t * A) and ``drive`` with dt_t u_t B_t, (batch, T, G, N, P);
    return each sub-chunk's total decay (see :func:`_totals`)."""
    torch.mul(dt[:, :, :, None, :], A, out=decay).exp_()
    torch.mul((dt * u)[:, :, :, None, :], B[..., None], out=drive)
    return _totals(dt, A)


def _totals(dt: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """Each sub-chunk's total decay exp(A * sum(dt)), (batch, T // SUB, G, N, P)."""
    batch, steps, groups, per_group = dt.shape
    dt_sums = dt.reshape(batch, steps // SUB, SUB, groups, per_group).sum(2)
    return torch.exp_(dt_sums[:, :, :, None, :] * A)


def _scan_forward(
    decay: torch.Tensor, h: torch.Tensor, totals: torch.Tensor, state: torch.Tensor
) -> None:
    """In place: ``h`` holds the drives x_t on entry and the states
    h_t = decay_t * h_{t-1} + x_t on return, from h_{-1} = ``state``."""
    # position t of every sub-chunk at once: (batch, subs, G, N, P) views
    decays, hs = _positions(decay), _positions(h)
    # 1. each sub-chunk from a zero state: where it would end on its own
    own = hs[0].clone()
    for t in range(1, SUB):
        torch.addcmul(hs[t], decays[t], own, out=own)
    # 2. the true state entering each sub-chunk
    incoming = torch.empty_like(own)
    incoming[:, 0] = state
    for s in range(1, own.shape[1]):
        torch.addcmul(own[:, s - 1], totals[:, s - 1], incoming[:, s - 1], out=incoming[:, s])
    # 3. each sub-chunk again, from its true incoming state
    previous = incoming
    for t in range(SUB):
        previous = torch.addcmul(hs[t], decays[t], previous, out=hs[t])


def _scan_backward(
    decay: torch.Tensor, r: torch.Tensor, totals: torch.Tensor, carry: torch.Tensor
) -> torch.Tensor:
    """In place: ``r`` holds each state's read-out grad q_t on entry and its full grad
    r_t = q_t + decay_{t+1} * r_{t+1} on return, where the step after the block contributes
    ``carry`` (its decay times its grad). Returns the carry for the block before, decay_0 * r_0.
    """
    decays, rs = _positions(decay), _positions(r)
    # 1. each sub-chunk with nothing flowing in from after it, to its decay_0 * r_0
    own = rs[SUB - 1].clone()
    for t in range(SUB - 2, -1, -1):
        torch.addcmul(rs[t], decays[t + 1], own, out=own)
    own.mul_(decays[0])
    # 2. what flows into each sub-chunk from the one after it (decay times grad)
    subs = own.shape[1]
    incoming = torch.empty_like(own)
    incoming[:, subs - 1] = carry
    for s in range(subs - 2, -1, -1):
        torch.addcmul(own[:, s + 1], totals[:, s + 1], incoming[:, s + 1], out=incoming[:, s])
    block_carry = torch.addcmul(own[:, 0], totals[:, 0], incoming[:, 0])
    # 3. each sub-chunk again, with its true inflow
    following = rs[SUB - 1].add_(incoming)
    for t in range(SUB - 2, -1, -1):
        following = torch.addcmul(rs[t], decays[t + 1], following, out=rs[t])
    return block_carry


def _positions(block: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """SUB views of a (batch, T, ...) block: view t holds step t of every sub-chunk."""
    return block.view(block.shape[0], block.shape[1] // SUB, SUB, *block.shape[2:]).unbind(2)
