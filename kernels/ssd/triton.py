"""Triton SSD kernels, forward and backward, in the chunked Mamba-2 design.

The math is the one :mod:`kernels.ssd.chunk` spells out in torch: chunks of Q steps, the
running sum ``cum`` of dt * A within each chunk, masked decay matrices exp(cum_i - cum_j)
within a chunk and a sequential pass of (p, n) states across chunks.

Forward, one program per (batch, head) and chunk (and row block where it pays):
  1. ``_dt_fwd``          dt (+ bias, softplus) and ``cum``, stored per chunk;
  2. ``_chunk_state_fwd`` each chunk's own end state, sum_j exp(cum_last - cum_j) dt_j x_j B_j^T;
  3. ``_state_pass_fwd``  the loop over chunks: the state entering each chunk, and the last;
  4. ``_chunk_scan_fwd``  y = intra-chunk part + read-out of the entering state, then D and z.
Backward, in the reverse order:
  5. ``_chunk_scan_bwd_rows`` per output row i: the z gate (dz, and dy for the rest), dD, dC,
     the row half of d cum, and the grad of the entering state through its read-out;
  6. ``_state_pass_bwd``      the reverse loop over chunks: the grad of each chunk's own state,
     of each chunk's total decay and of the initial state;
  7. ``_chunk_scan_bwd_cols`` per input column j: dx, dB, dt's direct grad, the column half
     of d cum;
  8. ``_dt_bwd``              d cum back through the cumulative sum to dt, A and the bias.

States and every accumulation are fp32; bf16 / fp16 inputs are read and upcast. Gradients
that reduce over batch and heads (A, dt_bias, D) and over the heads sharing a B / C group
are written per program and summed in torch. Each step's dt * A is clamped to <= 0 (A <= 0
in Mamba-2, where A = -exp(A_log)), so ``cum`` only falls within a chunk; exponents, which
are differences of ``cum``, are clamped to <= 0 as well, against rounding in the parallel
cumulative sum.
"""

from __future__ import annotations

import contextlib

import torch
import triton
import triton.language as tl

# ---------------------------------------------------------------------------------------------
# kernels
#
# Every chunk kernel starts the same way: program (b * H + h, c) owns head h of batch b and
# chunk c; ``real`` counts the chunk's steps inside the sequence (the last chunk may be short);
# ``row0`` is the chunk in the (b, h, c, Q) fp32 buffers of dt and cum; ``x_rows`` and
# ``bc_rows`` are the offsets of the chunk's first row in x-like (b, L, h, p) and B-like
# (b, L, g, n) tensors, to which row i adds i * H * P or i * G * N; ``state`` addresses the
# chunk's (p, n) state in (b, c, h, p, n) buffers. Helpers are inlined on purpose: each call
# of a jitted helper costs milliseconds under TRITON_INTERPRET=1.


@triton.jit
def _dt_fwd(
    dt_ptr, bias_ptr, A_ptr, dtp_ptr, cum_ptr, L, H, Q, NC,
    HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, BLOCK_Q: tl.constexpr,
):  # fmt: skip
    pid_bh = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1)
    b, h = pid_bh // H, pid_bh % H
    offs = tl.arange(0, BLOCK_Q)
    real = offs < tl.minimum(Q, L - c * Q)
    dt = tl.load(dt_ptr + (b * L + c * Q + offs) * H + h, mask=real, other=0.0).to(tl.float32)
    if HAS_BIAS:
        dt += tl.load(bias_ptr + h).to(tl.float32)
    if SOFTPLUS:
        # log1p(exp(dt)), with an accurate log1p (u - 1 recovers the rounding of 1 + e);
        # the identity past 20, like torch.nn.functional.softplus
        e = tl.exp(tl.minimum(dt, 20.0))
        u = 1.0 + e
        dt = tl.where(dt > 20.0, dt, tl.where(u == 1.0, e, tl.log(u) * e / (u - 1.0)))
    # steps past L get dt = 0: they leave the state as it is
    dt = tl.where(real, dt, 0.0)
    # each step's log-decay dt * A clamped to <= 0, as in the torch backend
    cum = tl.cumsum(tl.minimum(dt * tl.load(A_ptr + h).to(tl.float32), 0.0), axis=0)
    row = (pid_bh * NC + c) * Q + offs
    tl.store(dtp_ptr + row, dt, mask=offs < Q)
    tl.store(cum_ptr + row, cum, mask=offs < Q)


@triton.jit
def _chunk_state_fwd(
    x_ptr, B_ptr, dtp_ptr, cum_ptr, own_ptr, L, H, G, HG, Q, NC, P, N,
    BLOCK_M: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_N: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    pid_bh = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1)
    b, h = pid_bh // H, pid_bh % H
    g = h // HG
    real = tl.minimum(Q, L - c * Q)
    row0 = (pid_bh * NC + c) * Q
    offs_p, offs_n = tl.arange(0, BLOCK_P), tl.arange(0, BLOCK_N)
    mask_p, mask_n = offs_p < P, offs_n < N
    x_rows = (b * L + c * Q) * H * P + h * P + offs_p[None, :]
    bc_rows = (b * L + c * Q) * G * N + g * N + offs_n[None, :]
    state = ((b * NC + c) * H + h) * P * N + offs_p[:, None] * N + offs_n[None, :]

    cum_last = tl.load(cum_ptr + row0 + Q - 1)
    acc = tl.zeros((BLOCK_P, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, Q, BLOCK_M):
        offs_k = k0 + tl.arange(0, BLOCK_M)
        real_k = offs_k < real
        x_k = tl.load(
            x_ptr + x_rows + offs_k[:, None] * H * P,
            mask=real_k[:, None] & mask_p[None, :], other=0.0,
        ).to(tl.float32)  # fmt: skip
        B_k = tl.load(
            B_ptr + bc_rows + offs_k[:, None] * G * N,
            mask=real_k[:, None] & mask_n[None, :], other=0.0,
        ).to(tl.float32)  # fmt: skip
        dt_k = tl.load(dtp_ptr + row0 + offs_k, mask=offs_k < Q, other=0.0)
        cum_k = tl.load(cum_ptr + row0 + offs_k, mask=offs_k < Q, other=0.0)
        w = tl.exp(tl.minimum(cum_last - cum_k, 0.0)) * dt_k
        acc += tl.dot(tl.trans(x_k * w[:, None]), B_k, input_precision=PRECISION)
    tl.store(own_ptr + state, acc, mask=mask_p[:, None] & mask_n[None, :])


@triton.jit
def _state_pass_fwd(
    own_ptr, cum_ptr, init_ptr, sin_ptr, final_ptr, H, Q, NC, PN,
    HAS_INIT: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    pid_bh = tl.program_id(0).to(tl.int64)
    b, h = pid_bh // H, pid_bh % H
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < PN
    if HAS_INIT:
        state = tl.load(init_ptr + pid_bh * PN + offs, mask=mask, other=0.0).to(tl.float32)
    else:
        state = tl.zeros((BLOCK,), dtype=tl.float32)
    for c in range(NC):
        index = ((b * NC + c) * H + h) * PN + offs
        tl.store(sin_ptr + index, state, mask=mask)
        decay = tl.exp(tl.minimum(tl.load(cum_ptr + (pid_bh * NC + c) * Q + Q - 1), 0.0))
        state = decay * state + tl.load(own_ptr + index, mask=mask, other=0.0)
    tl.store(final_ptr + pid_bh * PN + offs, state, mask=mask)


@triton.jit
def _chunk_scan_fwd(
    x_ptr, z_ptr, B_ptr, C_ptr, D_ptr, dtp_ptr, cum_ptr, sin_ptr, out_ptr, ypre_ptr,
    L, H, G, HG, Q, NC, P, N, D_HEAD, D_COL,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_P: tl.constexpr,
    BLOCK_N: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    pid_bh = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1)
    b, h = pid_bh // H, pid_bh % H
    g = h // HG
    real = tl.minimum(Q, L - c * Q)
    row0 = (pid_bh * NC + c) * Q
    offs_p, offs_n = tl.arange(0, BLOCK_P), tl.arange(0, BLOCK_N)
    mask_p, mask_n = offs_p < P, offs_n < N
    x_rows = (b * L + c * Q) * H * P + h * P + offs_p[None, :]
    bc_rows = (b * L + c * Q) * G * N + g * N + offs_n[None, :]
    state = ((b * NC + c) * H + h) * P * N + offs_p[:, None] * N + offs_n[None, :]

    # this program's rows i of the chunk
    offs_m = tl.program_id(2) * BLOCK_M + tl.arange(0, BLOCK_M)
    real_m = offs_m < real
    cum_m = tl.load(cum_ptr + row0 + offs_m, mask=offs_m < Q, other=0.0)
    C_m = tl.load(
        C_ptr + bc_rows + offs_m[:, None] * G * N, mask=real_m[:, None] & mask_n[None, :], other=0.0
    ).to(tl.float32)
    entering = tl.load(sin_ptr + state, mask=mask_p[:, None] & mask_n[None, :], other=0.0)
    # the entering state read out at each row, decayed by the steps so far in the chunk
    acc = tl.dot(C_m, tl.trans(entering), input_precision=PRECISION)
    acc = acc * tl.exp(tl.minimum(cum_m, 0.0))[:, None]
    # intra-chunk part: y_i += sum_{j <= i} (C_i . B_j) exp(cum_i - cum_j) dt_j x_j
    for k0 in range(0, (tl.program_id(2) + 1) * BLOCK_M, BLOCK_M):
        offs_k = k0 + tl.arange(0, BLOCK_M)
        real_k = offs_k < real
        B_k = tl.load(
            B_ptr + bc_rows + offs_k[:, None] * G * N,
            mask=real_k[:, None] & mask_n[None, :], other=0.0,
        ).to(tl.float32)  # fmt: skip
        x_k = tl.load(
            x_ptr + x_rows + offs_k[:, None] * H * P,
            mask=real_k[:, None] & mask_p[None, :], other=0.0,
        ).to(tl.float32)  # fmt: skip
        dt_k = tl.load(dtp_ptr + row0 + offs_k, mask=offs_k < Q, other=0.0)
        cum_k = tl.load(cum_ptr + row0 + offs_k, mask=offs_k < Q, other=0.0)
        keep = (offs_m[:, None] >= offs_k[None, :]) & real_k[None, :]
        decay = tl.where(keep, tl.exp(tl.minimum(cum_m[:, None] - cum_k[None, :], 0.0)), 0.0)
        scores = tl.dot(C_m, tl.trans(B_k), input_precision=PRECISION) * decay * dt_k[None, :]
        acc += tl.dot(scores, x_k, input_precision=PRECISION)
    rows_m = x_rows + offs_m[:, None] * H * P
    mask_m = real_m[:, None] & mask_p[None, :]
    if HAS_D:
        x_m = tl.load(x_ptr + rows_m, mask=mask_m, other=0.0).to(tl.float32)
        D = tl.load(D_ptr + h * D_HEAD + offs_p * D_COL, mask=mask_p, other=0.0)
        acc += x_m * D.to(tl.float32)[None, :]
    if HAS_Z:
        tl.store(ypre_ptr + rows_m, acc, mask=mask_m)
        z_m = tl.load(z_ptr + rows_m, mask=mask_m, other=0.0).to(tl.float32)
        acc = acc * z_m * tl.sigmoid(z_m)
    tl.store(out_ptr + rows_m, acc.to(out_ptr.dtype.element_ty), mask=mask_m)


@triton.jit
def _chunk_scan_bwd_rows(
    x_ptr, z_ptr, B_ptr, C_ptr, dtp_ptr, cum_ptr, sin_ptr, ypre_ptr, dout_ptr,
    dy_ptr, dz_ptr, dC_ptr, dcum_ptr, dsin_ptr, dD_ptr,
    L, H, G, HG, Q, NC, P, N,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_P: tl.constexpr,
    BLOCK_N: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    pid_bh = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1)
    b, h = pid_bh // H, pid_bh % H
    g = h // HG
    real = tl.minimum(Q, L - c * Q)
    row0 = (pid_bh * NC + c) * Q
    offs_p, offs_n = tl.arange(0, BLOCK_P), tl.arange(0, BLOCK_N)
    mask_p, mask_n = offs_p < P, offs_n < N
    x_rows = (b * L + c * Q) * H * P + h * P + offs_p[None, :]
    bc_rows = (b * L + c * Q) * G * N + g * N + offs_n[None, :]
    dc_rows = (b * L + c * Q) * H * N + h * N + offs_n[None, :]  # dC per head, (b, L, h, n)
    state = ((b * NC + c) * H + h) * P * N + offs_p[:, None] * N + offs_n[None, :]

    entering = tl.load(sin_ptr + state, mask=mask_p[:, None] & mask_n[None, :], other=0.0)
    dentering = tl.zeros((BLOCK_P, BLOCK_N), dtype=tl.float32)
    dD = tl.zeros((BLOCK_P,), dtype=tl.float32)
    for m0 in range(0, Q, BLOCK_M):
        offs_m = m0 + tl.arange(0, BLOCK_M)
        real_m = offs_m < real
        rows_m = x_rows + offs_m[:, None] * H * P
        mask_m = real_m[:, None] & mask_p[None, :]
        dy = tl.load(dout_ptr + rows_m, mask=mask_m, other=0.0).to(tl.float32)
        if HAS_Z:
            # out = ypre * silu(z): dz = dout * ypre * silu'(z), and dy = dout * silu(z)
            z_m = tl.load(z_ptr + rows_m, mask=mask_m, other=0.0).to(tl.float32)
            ypre = tl.load(ypre_ptr + rows_m, mask=mask_m, other=0.0)
            sig = tl.sigmoid(z_m)
            dz = dy * ypre * sig * (1.0 + z_m * (1.0 - sig))
            tl.store(dz_ptr + rows_m, dz.to(dz_ptr.dtype.element_ty), mask=mask_m)
            dy = dy * z_m * sig
        tl.store(dy_ptr + rows_m, dy, mask=mask_m)
        if HAS_D:
            dD += tl.sum(dy * tl.load(x_ptr + rows_m, mask=mask_m, other=0.0).to(tl.float32), 0)
        cum_m = tl.load(cum_ptr + row0 + offs_m, mask=offs_m < Q, other=0.0)
        C_m = tl.load(
            C_ptr + bc_rows + offs_m[:, None] * G * N,
            mask=real_m[:, None] & mask_n[None, :], other=0.0,
        ).to(tl.float32)  # fmt: skip
        # read-out of the entering state: y_i += exp(cum_i) C_i entering^T
        dy_decayed = dy * tl.exp(tl.minimum(cum_m, 0.0))[:, None]
        dentering += tl.dot(tl.trans(dy_decayed), C_m, input_precision=PRECISION)
        dC = tl.dot(dy_decayed, entering, input_precision=PRECISION)
        read = tl.dot(C_m, tl.trans(entering), input_precision=PRECISION)
        dcum = tl.sum(dy_decayed * read, axis=1)
        # intra-chunk part: y_i += sum_{j <= i} (C_i . B_j) exp(cum_i - cum_j) dt_j x_j
        for k0 in range(0, m0 + BLOCK_M, BLOCK_M):
            offs_k = k0 + tl.arange(0, BLOCK_M)
            real_k = offs_k < real
            B_k = tl.load(
                B_ptr + bc_rows + offs_k[:, None] * G * N,
                mask=real_k[:, None] & mask_n[None, :], other=0.0,
            ).to(tl.float32)  # fmt: skip
            x_k = tl.load(
                x_ptr + x_rows + offs_k[:, None] * H * P,
                mask=real_k[:, None] & mask_p[None, :], other=0.0,
            ).to(tl.float32)  # fmt: skip
            dt_k = tl.load(dtp_ptr + row0 + offs_k, mask=offs_k < Q, other=0.0)
            cum_k = tl.load(cum_ptr + row0 + offs_k, mask=offs_k < Q, other=0.0)
            keep = (offs_m[:, None] >= offs_k[None, :]) & real_k[None, :]
            decay = tl.where(keep, tl.exp(tl.minimum(cum_m[:, None] - cum_k[None, :], 0.0)), 0.0)
            CB = tl.dot(C_m, tl.trans(B_k), input_precision=PRECISION)
            dCB = tl.dot(dy, tl.trans(x_k), input_precision=PRECISION) * decay * dt_k[None, :]
            dcum += tl.sum(CB * dCB, axis=1)
            dC += tl.dot(dCB, B_k, input_precision=PRECISION)
        tl.store(
            dC_ptr + dc_rows + offs_m[:, None] * H * N, dC, mask=real_m[:, None] & mask_n[None, :]
        )
        tl.store(dcum_ptr + row0 + offs_m, dcum, mask=offs_m < Q)
    tl.store(dsin_ptr + state, dentering, mask=mask_p[:, None] & mask_n[None, :])
    if HAS_D:
        tl.store(dD_ptr + (pid_bh * NC + c) * P + offs_p, dD, mask=mask_p)


@triton.jit
def _state_pass_bwd(
    dstates_ptr, sin_ptr, cum_ptr, dfinal_ptr, dinit_ptr, dlast_ptr, H, Q, NC, PN,
    HAS_DFINAL: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    # dstates holds, on entry, the grad of each chunk's entering state through its own
    # read-out; on return, the grad of each chunk's own end state (= of the state leaving it)
    pid_bh = tl.program_id(0).to(tl.int64)
    b, h = pid_bh // H, pid_bh % H
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < PN
    if HAS_DFINAL:
        carry = tl.load(dfinal_ptr + pid_bh * PN + offs, mask=mask, other=0.0).to(tl.float32)
    else:
        carry = tl.zeros((BLOCK,), dtype=tl.float32)
    for i in range(NC):
        c = NC - 1 - i
        index = ((b * NC + c) * H + h) * PN + offs
        local = tl.load(dstates_ptr + index, mask=mask, other=0.0)
        tl.store(dstates_ptr + index, carry, mask=mask)
        decay = tl.exp(tl.minimum(tl.load(cum_ptr + (pid_bh * NC + c) * Q + Q - 1), 0.0))
        entering = tl.load(sin_ptr + index, mask=mask, other=0.0)
        # leaving = decay * entering + own, so the chunk's total log-decay cum_last gets this
        tl.store(
            dlast_ptr + (pid_bh * NC + c) * tl.num_programs(1) + tl.program_id(1),
            decay * tl.sum(carry * entering, axis=0),
        )
        carry = decay * carry + local
    tl.store(dinit_ptr + pid_bh * PN + offs, carry, mask=mask)


@triton.jit
def _chunk_scan_bwd_cols(
    x_ptr, B_ptr, C_ptr, D_ptr, dtp_ptr, cum_ptr, dy_ptr, dstates_ptr,
    dx_ptr, dB_ptr, ddt_ptr, dcum_ptr, dlast_ptr,
    L, H, G, HG, Q, NC, P, N, D_HEAD, D_COL,
    HAS_D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_N: tl.constexpr,
    PRECISION: tl.constexpr,
):  # fmt: skip
    pid_bh = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1)
    b, h = pid_bh // H, pid_bh % H
    g = h // HG
    real = tl.minimum(Q, L - c * Q)
    row0 = (pid_bh * NC + c) * Q
    offs_p, offs_n = tl.arange(0, BLOCK_P), tl.arange(0, BLOCK_N)
    mask_p, mask_n = offs_p < P, offs_n < N
    x_rows = (b * L + c * Q) * H * P + h * P + offs_p[None, :]
    bc_rows = (b * L + c * Q) * G * N + g * N + offs_n[None, :]
    db_rows = (b * L + c * Q) * H * N + h * N + offs_n[None, :]  # dB per head, (b, L, h, n)
    state = ((b * NC + c) * H + h) * P * N + offs_p[:, None] * N + offs_n[None, :]

    # this program's columns j of the chunk
    offs_k = tl.program_id(2) * BLOCK_M + tl.arange(0, BLOCK_M)
    real_k = offs_k < real
    rows_k = x_rows + offs_k[:, None] * H * P
    mask_k = real_k[:, None] & mask_p[None, :]
    x_k = tl.load(x_ptr + rows_k, mask=mask_k, other=0.0).to(tl.float32)
    B_k = tl.load(
        B_ptr + bc_rows + offs_k[:, None] * G * N, mask=real_k[:, None] & mask_n[None, :], other=0.0
    ).to(tl.float32)
    dt_k = tl.load(dtp_ptr + row0 + offs_k, mask=offs_k < Q, other=0.0)
    cum_k = tl.load(cum_ptr + row0 + offs_k, mask=offs_k < Q, other=0.0)
    dstate = tl.load(dstates_ptr + state, mask=mask_p[:, None] & mask_n[None, :], other=0.0)
    # the chunk's own end state: sum_j w_j x_j B_j^T with w_j = exp(cum_last - cum_j) dt_j
    to_end = tl.exp(tl.minimum(tl.load(cum_ptr + row0 + Q - 1) - cum_k, 0.0))
    w = to_end * dt_k
    BdS = tl.dot(B_k, tl.trans(dstate), input_precision=PRECISION)
    dx = w[:, None] * BdS
    dw = tl.sum(x_k * BdS, axis=1)
    ddt = to_end * dw
    dcum = -dw * w
    tl.store(dlast_ptr + (pid_bh * NC + c) * tl.num_programs(2) + tl.program_id(2), tl.sum(dw * w))
    dB = w[:, None] * tl.dot(x_k, dstate, input_precision=PRECISION)
    # intra-chunk part, seen from column j: rows i >= j read x_j
    for m0 in range(tl.program_id(2) * BLOCK_M, Q, BLOCK_M):
        offs_m = m0 + tl.arange(0, BLOCK_M)
        real_m = offs_m < real
        C_m = tl.load(
            C_ptr + bc_rows + offs_m[:, None] * G * N,
            mask=real_m[:, None] & mask_n[None, :], other=0.0,
        ).to(tl.float32)  # fmt: skip
        dy_m = tl.load(
            dy_ptr + x_rows + offs_m[:, None] * H * P,
            mask=real_m[:, None] & mask_p[None, :], other=0.0,
        )  # fmt: skip
        cum_m = tl.load(cum_ptr + row0 + offs_m, mask=offs_m < Q, other=0.0)
        # decay and scores transposed: rows j, columns i
        keep = (offs_m[None, :] >= offs_k[:, None]) & real_k[:, None]
        decay = tl.where(keep, tl.exp(tl.minimum(cum_m[None, :] - cum_k[:, None], 0.0)), 0.0)
        BC = tl.dot(B_k, tl.trans(C_m), input_precision=PRECISION) * decay
        xdy = tl.dot(x_k, tl.trans(dy_m), input_precision=PRECISION)
        dx += tl.dot(BC * dt_k[:, None], dy_m, input_precision=PRECISION)
        through = tl.sum(BC * xdy, axis=1)
        ddt += through
        dcum -= dt_k * through
        dB += tl.dot(decay * xdy * dt_k[:, None], C_m, input_precision=PRECISION)
    if HAS_D:
        D = tl.load(D_ptr + h * D_HEAD + offs_p * D_COL, mask=mask_p, other=0.0)
        dx += tl.load(dy_ptr + rows_k, mask=mask_k, other=0.0) * D.to(tl.float32)[None, :]
    tl.store(dx_ptr + rows_k, dx.to(dx_ptr.dtype.element_ty), mask=mask_k)
    tl.store(dB_ptr + db_rows + offs_k[:, None] * H * N, dB, mask=real_k[:, None] & mask_n[None, :])
    tl.store(ddt_ptr + row0 + offs_k, ddt, mask=offs_k < Q)
    tl.store(dcum_ptr + row0 + offs_k, dcum, mask=offs_k < Q)


@triton.jit
def _dt_bwd(
    dt_ptr, bias_ptr, A_ptr, dtp_ptr, ddt_direct_ptr, dcum_rows_ptr, dcum_cols_ptr, dlast_ptr,
    ddt_ptr, dA_ptr, dbias_ptr, L, H, Q, NC,
    HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, BLOCK_Q: tl.constexpr,
):  # fmt: skip
    pid_bh = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1)
    b, h = pid_bh // H, pid_bh % H
    offs = tl.arange(0, BLOCK_Q)
    in_chunk = offs < Q
    real = offs < tl.minimum(Q, L - c * Q)
    row = (pid_bh * NC + c) * Q + offs
    dcum = tl.load(dcum_rows_ptr + row, mask=in_chunk, other=0.0)
    dcum += tl.load(dcum_cols_ptr + row, mask=in_chunk, other=0.0)
    dcum += tl.where(offs == Q - 1, tl.load(dlast_ptr + pid_bh * NC + c), 0.0)
    # cum_i = sum_{t <= i} dt_t A: the grad of dt_t A is the sum of d cum_i over i >= t
    dlog_decay = tl.cumsum(dcum, axis=0, reverse=True)
    dtp = tl.load(dtp_ptr + row, mask=in_chunk, other=0.0)
    A = tl.load(A_ptr + h).to(tl.float32)
    dlog_decay = tl.where(dtp * A <= 0.0, dlog_decay, 0.0)  # the clamp of _dt_fwd
    tl.store(dA_ptr + pid_bh * NC + c, tl.sum(dtp * dlog_decay, axis=0))
    ddt = tl.load(ddt_direct_ptr + row, mask=in_chunk, other=0.0) + A * dlog_decay
    dt_offs = (b * L + c * Q + offs) * H + h
    if SOFTPLUS:
        raw = tl.load(dt_ptr + dt_offs, mask=real, other=0.0).to(tl.float32)
        if HAS_BIAS:
            raw += tl.load(bias_ptr + h).to(tl.float32)
        ddt = ddt * tl.where(raw > 20.0, 1.0, tl.sigmoid(raw))
    ddt = tl.where(real, ddt, 0.0)
    tl.store(ddt_ptr + dt_offs, ddt, mask=real)
    if HAS_BIAS:
        tl.store(dbias_ptr + pid_bh * NC + c, tl.sum(ddt, axis=0))


# ---------------------------------------------------------------------------------------------
# launch and autograd


def _blocks(chunk_size: int, headdim: int, nstate: int) -> dict[str, int]:
    """Tile sizes: powers of two, at least 16 (tl.dot's minimum), covering chunk rows, p and n;
    once a (p, n) state tile passes 4096 fp32 values, fewer rows per tile and more warps, to
    keep the tiles in registers. Two pipeline stages keep every kernel under 99 KiB of shared
    memory (the limit of consumer GPUs) for p <= 64 and n <= 128; three took up to 129 KiB."""
    block_p = max(16, triton.next_power_of_2(headdim))
    block_n = max(16, triton.next_power_of_2(nstate))
    rows = 64 if block_p * block_n <= 4096 else 32
    return {
        "BLOCK_M": min(rows, max(16, triton.next_power_of_2(chunk_size))),
        "BLOCK_P": block_p,
        "BLOCK_N": block_n,
        "num_warps": 4 if block_p * block_n <= 4096 else 8,
        "num_stages": 2,
    }


STATE_BLOCK = 256  # state elements per program in the passes across chunks


class _SsdTriton(torch.autograd.Function):
    """(y, final_states) of the SSD scan; inputs checked, B and C (b, L, g, n)."""

    @staticmethod
    def forward(ctx, x, dt, A, B, C, D, z, dt_bias, initial_states, chunk_size, dt_softplus):  # type: ignore[override]
        # the kernels index plain row-major tensors
        x, dt, A, B, C = (t.contiguous() for t in (x, dt, A, B, C))
        z, dt_bias, D = (t.contiguous() if t is not None else None for t in (z, dt_bias, D))
        batch, length, heads, headdim = x.shape
        groups, nstate = B.shape[-2:]
        Q = min(chunk_size, length)  # a chunk longer than the sequence would be all padding
        chunks = triton.cdiv(length, Q)
        blocks = _blocks(Q, headdim, nstate)
        precision = "ieee" if x.dtype == torch.float32 else "tf32"
        f32 = {"dtype": torch.float32, "device": x.device}
        dtp = torch.empty(batch * heads * chunks * Q, **f32)
        cum = torch.empty_like(dtp)
        _dt_fwd[(batch * heads, chunks)](
            dt, dt_bias, A, dtp, cum, length, heads, Q, chunks,
            HAS_BIAS=dt_bias is not None, SOFTPLUS=dt_softplus,
            BLOCK_Q=max(16, triton.next_power_of_2(Q)),
        )  # fmt: skip
        shape = (batch, heads, groups, heads // groups, Q, chunks, headdim, nstate)
        own = torch.empty(batch, chunks, heads, headdim, nstate, **f32)
        _chunk_state_fwd[(batch * heads, chunks)](
            x, B, dtp, cum, own, length, *shape[1:], PRECISION=precision, **blocks
        )
        states_in = torch.empty_like(own)
        final = torch.empty(batch, heads, headdim, nstate, **f32)
        pn = headdim * nstate
        init = initial_states.contiguous() if initial_states is not None else None
        _state_pass_fwd[(batch * heads, triton.cdiv(pn, STATE_BLOCK))](
            own, cum, init, states_in, final, heads, Q, chunks, pn,
            HAS_INIT=init is not None, BLOCK=STATE_BLOCK,
        )  # fmt: skip
        del own
        d_head, d_col = _D_strides(D, headdim)
        out = torch.empty_like(x)
        ypre = torch.empty(x.shape, **f32) if z is not None else None
        rows = triton.cdiv(Q, blocks["BLOCK_M"])
        _chunk_scan_fwd[(batch * heads, chunks, rows)](
            x, z, B, C, D, dtp, cum, states_in, out, ypre, length, *shape[1:], d_head, d_col,
            HAS_D=D is not None, HAS_Z=z is not None, PRECISION=precision, **blocks,
        )  # fmt: skip
        ctx.save_for_backward(x, dt, A, B, C, D, z, dt_bias, dtp, cum, states_in, ypre)
        ctx.config = (shape, blocks, precision, bool(dt_softplus), init is not None)
        ctx.initial_dtype = initial_states.dtype if initial_states is not None else None
        return out, final

    @staticmethod
    def backward(ctx, dout, dfinal):  # type: ignore[override]
        x, dt, A, B, C, D, z, dt_bias, dtp, cum, states_in, ypre = ctx.saved_tensors
        shape, blocks, precision, dt_softplus, has_init = ctx.config
        heads, groups, per_group, Q, chunks, headdim, nstate = shape[1:]
        batch, length = x.shape[:2]
        f32 = {"dtype": torch.float32, "device": x.device}
        dout = dout.contiguous()
        pn = headdim * nstate
        d_head, d_col = _D_strides(D, headdim)

        dy = torch.empty(x.shape, **f32)
        dz = torch.empty_like(z) if z is not None else None
        dC_heads = torch.empty(batch, length, heads, nstate, **f32)
        dcum_rows = torch.empty_like(dtp)
        dstates = torch.empty_like(states_in)
        dD_parts = torch.empty(batch * heads * chunks, headdim, **f32) if D is not None else None
        _chunk_scan_bwd_rows[(batch * heads, chunks)](
            x, z, B, C, dtp, cum, states_in, ypre, dout,
            dy, dz, dC_heads, dcum_rows, dstates, dD_parts, length, *shape[1:],
            HAS_D=D is not None, HAS_Z=z is not None, PRECISION=precision, **blocks,
        )  # fmt: skip

        state_blocks = triton.cdiv(pn, STATE_BLOCK)
        dinit = torch.empty(batch, heads, headdim, nstate, **f32)
        dlast_pass = torch.empty(batch * heads * chunks, state_blocks, **f32)
        dfinal = dfinal.contiguous() if dfinal is not None else None
        _state_pass_bwd[(batch * heads, state_blocks)](
            dstates, states_in, cum, dfinal, dinit, dlast_pass, heads, Q, chunks, pn,
            HAS_DFINAL=dfinal is not None, BLOCK=STATE_BLOCK,
        )  # fmt: skip

        rows = triton.cdiv(Q, blocks["BLOCK_M"])
        dx = torch.empty_like(x)
        dB_heads = torch.empty_like(dC_heads)
        ddt_direct, dcum_cols = torch.empty_like(dtp), torch.empty_like(dtp)
        dlast_cols = torch.empty(batch * heads * chunks, rows, **f32)
        _chunk_scan_bwd_cols[(batch * heads, chunks, rows)](
            x, B, C, D, dtp, cum, dy, dstates, dx, dB_heads, ddt_direct, dcum_cols, dlast_cols,
            length, *shape[1:], d_head, d_col,
            HAS_D=D is not None, PRECISION=precision, **blocks,
        )  # fmt: skip

        dlast = dlast_pass.sum(1) + dlast_cols.sum(1)
        ddt = torch.empty(dt.shape, **f32)
        dA_parts = torch.empty(batch * heads * chunks, **f32)
        dbias_parts = torch.empty_like(dA_parts) if dt_bias is not None else None
        _dt_bwd[(batch * heads, chunks)](
            dt, dt_bias, A, dtp, ddt_direct, dcum_rows, dcum_cols, dlast,
            ddt, dA_parts, dbias_parts, length, heads, Q, chunks,
            HAS_BIAS=dt_bias is not None, SOFTPLUS=dt_softplus,
            BLOCK_Q=max(16, triton.next_power_of_2(Q)),
        )  # fmt: skip

        def per_head(parts: torch.Tensor) -> torch.Tensor:  # (b * h * c, ...) summed to (h, ...)
            return parts.reshape(batch, heads, chunks, *parts.shape[1:]).sum((0, 2))

        dA = per_head(dA_parts).to(A.dtype)
        dD = None
        if D is not None:
            dD = per_head(dD_parts)
            dD = (dD.sum(-1) if D.dim() == 1 else dD).to(D.dtype)
        dbias = per_head(dbias_parts).to(dt_bias.dtype) if dt_bias is not None else None

        def group_sum(heads_grad: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
            grad = heads_grad.reshape(batch, length, groups, per_group, nstate).sum(3)
            return grad.to(like.dtype)

        dinit = dinit.to(ctx.initial_dtype) if has_init else None
        return (
            dx, ddt.to(dt.dtype), dA, group_sum(dB_heads, B), group_sum(dC_heads, C),
            dD, dz, dbias, dinit, None, None,
        )  # fmt: skip


def _D_strides(D: torch.Tensor | None, headdim: int) -> tuple[int, int]:
    """(per head, per column) element strides of D: (h,) reads one value per head."""
    if D is None or D.dim() == 1:
        return 1, 0
    return headdim, 1


def ssd_triton(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    chunk_size: int,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    dt_bias: torch.Tensor | None = None,
    dt_softplus: bool = False,
    initial_states: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(y in x's dtype, final_states (b, h, p, n) in fp32); differentiable in every tensor.

    Unlike the other backends it takes the raw dt with dt_bias and dt_softplus: the kernels
    apply them, and their backward returns the grads of dt and dt_bias.
    """
    # kernels launch on the current CUDA device: make it x's (the backward runs on the same one)
    device = torch.cuda.device(x.device) if x.device.type == "cuda" else contextlib.nullcontext()
    with device:
        return _SsdTriton.apply(
            x, dt, A, B, C, D, z, dt_bias, initial_states, int(chunk_size), bool(dt_softplus)
        )
