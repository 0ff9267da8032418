"""Triton kernels for the selective scan, forward and backward, wired through autograd.

One program owns a block of ``BLOCK_D`` channels of one group in one batch row and walks
the sequence in time, holding the state as a [BLOCK_D, N] fp32 tile in registers; bias,
softplus, D and the z gate are fused in. Every ``CHUNK`` steps the forward writes the state
to a checkpoint. The backward walks the chunks last to first: it recomputes a chunk's
states from its checkpoint into a per-program scratch buffer, then runs the chunk in reverse,
carrying grad_h_{t-1} = exp(dt_t A) * grad_h_t. Each state is a product of decays
exp(dt * A) <= 1 (A <= 0) applied to bounded inputs, so no exponent is ever positive.

Reductions that cross programs are written per program and summed in torch: grad_A and
grad_D per batch row, grad_B and grad_C per channel block.

Conservative Triton: power-of-two constexpr block shapes with masks on every load and store,
loops with runtime bounds but no data-dependent branches, so that the kernels behave the
same compiled for a GPU and under ``TRITON_INTERPRET=1``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

CHUNK = 64  # steps between state checkpoints: backward memory is N * L / CHUNK per channel
# BLOCK_D * BLOCK_N cap: a small state tile keeps registers free and, as each program walks
# the whole sequence, more programs (channel blocks) is the only parallelism there is
MAX_TILE = 256


@triton.jit
def _softplus(x):
    return tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(x)))


@triton.jit
def _selective_scan_fwd_kernel(
    u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr,
    y_ptr, ckpt_ptr, last_ptr,
    dim, length, nstate, groups, per_group, n_chunks,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    CHUNK: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    pid_b = tl.program_id(0).to(tl.int64)
    pid_g = tl.program_id(1)
    offs_in = tl.program_id(2) * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = offs_in < per_group
    chan = (pid_g * per_group + offs_in).to(tl.int64)
    offs_n = tl.arange(0, BLOCK_N)
    mask_n = offs_n < nstate
    mask_dn = mask_d[:, None] & mask_n[None, :]
    zero_d = tl.zeros([BLOCK_D], dtype=tl.int32)
    zero_n = tl.zeros([BLOCK_N], dtype=tl.int32)
    tile = chan[:, None] * nstate + offs_n[None, :]  # (d, n) offsets within a (dim, N) slab

    A = tl.load(A_ptr + tile, mask=mask_dn, other=0.0).to(tl.float32)
    if HAS_D:
        D = tl.load(D_ptr + chan, mask=mask_d, other=0.0).to(tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + chan, mask=mask_d, other=0.0).to(tl.float32)
    row = (pid_b * dim + chan) * length  # start of (b, d, :) in u, delta, z, y
    bc_row = ((pid_b * groups + pid_g) * nstate + offs_n) * length  # start of (b, g, n, :)

    h = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    for c in range(0, n_chunks):
        tl.store(ckpt_ptr + (pid_b * n_chunks + c) * dim * nstate + tile, h, mask=mask_dn)
        for k in range(0, CHUNK):
            t = c * CHUNK + k
            m = mask_d & (zero_d + t < length)  # vector & vector: scalar masks trip the interpreter
            mask_nt = mask_n & (zero_n + t < length)
            u = tl.load(u_ptr + row + t, mask=m, other=0.0).to(tl.float32)
            dt = tl.load(delta_ptr + row + t, mask=m, other=0.0).to(tl.float32)
            if HAS_BIAS:
                dt += bias
            if SOFTPLUS:
                dt = _softplus(dt)
            dt = tl.where(m, dt, 0.0)  # past the end: decay 1, no input, the state holds
            Bt = tl.load(B_ptr + bc_row + t, mask=mask_nt, other=0.0).to(tl.float32)
            Ct = tl.load(C_ptr + bc_row + t, mask=mask_nt, other=0.0).to(tl.float32)
            h = tl.exp(dt[:, None] * A) * h + (dt * u)[:, None] * Bt[None, :]
            y = tl.sum(h * Ct[None, :], axis=1)
            if HAS_D:
                y += D * u
            if HAS_Z:
                z = tl.load(z_ptr + row + t, mask=m, other=0.0).to(tl.float32)
                y *= z * tl.sigmoid(z)
            tl.store(y_ptr + row + t, y.to(y_ptr.dtype.element_ty), mask=m)
    tl.store(last_ptr + pid_b * dim * nstate + tile, h, mask=mask_dn)


@triton.jit
def _selective_scan_bwd_kernel(
    u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr,
    grad_y_ptr, grad_last_ptr, ckpt_ptr, scratch_ptr,
    grad_u_ptr, grad_delta_ptr, grad_z_ptr, grad_A_ptr, grad_D_ptr, grad_B_ptr, grad_C_ptr,
    dim, length, nstate, groups, per_group, n_chunks, n_blocks,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    HAS_GRAD_LAST: tl.constexpr,
    CHUNK: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    pid_b = tl.program_id(0).to(tl.int64)
    pid_g = tl.program_id(1)
    pid_blk = tl.program_id(2)
    offs_in = pid_blk * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = offs_in < per_group
    chan = (pid_g * per_group + offs_in).to(tl.int64)
    offs_n = tl.arange(0, BLOCK_N)
    mask_n = offs_n < nstate
    mask_dn = mask_d[:, None] & mask_n[None, :]
    zero_d = tl.zeros([BLOCK_D], dtype=tl.int32)
    zero_n = tl.zeros([BLOCK_N], dtype=tl.int32)
    tile = chan[:, None] * nstate + offs_n[None, :]

    A = tl.load(A_ptr + tile, mask=mask_dn, other=0.0).to(tl.float32)
    D = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_D:
        D = tl.load(D_ptr + chan, mask=mask_d, other=0.0).to(tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + chan, mask=mask_d, other=0.0).to(tl.float32)
    row = (pid_b * dim + chan) * length
    bc_row = ((pid_b * groups + pid_g) * nstate + offs_n) * length
    # grad_B, grad_C partials: (batch, groups, n_blocks, N, L), one row per channel block
    part_row = (((pid_b * groups + pid_g) * n_blocks + pid_blk) * nstate + offs_n) * length
    # this program's scratch: CHUNK states before each step of the current chunk
    pid_flat = (pid_b * groups + pid_g) * n_blocks + pid_blk
    scratch = scratch_ptr + pid_flat * CHUNK * BLOCK_D * BLOCK_N
    scratch_tile = tl.arange(0, BLOCK_D)[:, None] * BLOCK_N + offs_n[None, :]

    # grad of the state after the current step, times the step's decay ("carry")
    carry = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    if HAS_GRAD_LAST:
        carry = tl.load(grad_last_ptr + pid_b * dim * nstate + tile, mask=mask_dn, other=0.0)
    grad_A = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    grad_D = tl.zeros([BLOCK_D], dtype=tl.float32)

    for ci in range(0, n_chunks):
        c = n_chunks - 1 - ci
        # 1. recompute the chunk's states from its checkpoint; keep the one before each step
        h = tl.load(
            ckpt_ptr + (pid_b * n_chunks + c) * dim * nstate + tile, mask=mask_dn, other=0.0
        )
        for k in range(0, CHUNK):
            t = c * CHUNK + k
            m = mask_d & (zero_d + t < length)
            mask_nt = mask_n & (zero_n + t < length)
            tl.store(scratch + k * BLOCK_D * BLOCK_N + scratch_tile, h)
            u = tl.load(u_ptr + row + t, mask=m, other=0.0).to(tl.float32)
            dt = tl.load(delta_ptr + row + t, mask=m, other=0.0).to(tl.float32)
            if HAS_BIAS:
                dt += bias
            if SOFTPLUS:
                dt = _softplus(dt)
            dt = tl.where(m, dt, 0.0)
            Bt = tl.load(B_ptr + bc_row + t, mask=mask_nt, other=0.0).to(tl.float32)
            h = tl.exp(dt[:, None] * A) * h + (dt * u)[:, None] * Bt[None, :]
        tl.debug_barrier()
        # 2. the chunk in reverse
        for ki in range(0, CHUNK):
            k = CHUNK - 1 - ki
            t = c * CHUNK + k
            m = mask_d & (zero_d + t < length)
            mask_nt = mask_n & (zero_n + t < length)
            h_prev = tl.load(scratch + k * BLOCK_D * BLOCK_N + scratch_tile)
            u = tl.load(u_ptr + row + t, mask=m, other=0.0).to(tl.float32)
            pre = tl.load(delta_ptr + row + t, mask=m, other=0.0).to(tl.float32)
            if HAS_BIAS:
                pre += bias
            dt = pre
            if SOFTPLUS:
                dt = _softplus(pre)
            dt = tl.where(m, dt, 0.0)
            Bt = tl.load(B_ptr + bc_row + t, mask=mask_nt, other=0.0).to(tl.float32)
            Ct = tl.load(C_ptr + bc_row + t, mask=mask_nt, other=0.0).to(tl.float32)
            g = tl.load(grad_y_ptr + row + t, mask=m, other=0.0).to(tl.float32)
            decay = tl.exp(dt[:, None] * A)
            dtu = dt * u
            h = decay * h_prev + dtu[:, None] * Bt[None, :]
            if HAS_Z:
                z = tl.load(z_ptr + row + t, mask=m, other=0.0).to(tl.float32)
                y = tl.sum(h * Ct[None, :], axis=1) + D * u
                sig = tl.sigmoid(z)
                grad_z = g * y * sig * (1.0 + z * (1.0 - sig))
                tl.store(grad_z_ptr + row + t, grad_z.to(grad_z_ptr.dtype.element_ty), mask=m)
                g = g * z * sig
            grad_D += g * u
            grad_h = carry + g[:, None] * Ct[None, :]
            tl.store(grad_C_ptr + part_row + t, tl.sum(g[:, None] * h, axis=0), mask=mask_nt)
            tl.store(grad_B_ptr + part_row + t, tl.sum(grad_h * dtu[:, None], axis=0), mask=mask_nt)
            grad_dtu = tl.sum(grad_h * Bt[None, :], axis=1)
            # grad of the log-decay dt * A
            grad_log_decay = grad_h * decay * h_prev
            grad_A += grad_log_decay * dt[:, None]
            grad_dt = grad_dtu * u + tl.sum(grad_log_decay * A, axis=1)
            if SOFTPLUS:
                grad_dt = grad_dt * tl.where(pre > 20.0, 1.0, tl.sigmoid(pre))
            grad_u = grad_dtu * dt + g * D
            tl.store(grad_u_ptr + row + t, grad_u, mask=m)
            tl.store(grad_delta_ptr + row + t, grad_dt, mask=m)
            carry = decay * grad_h
        tl.debug_barrier()
    tl.store(grad_A_ptr + pid_b * dim * nstate + tile, grad_A, mask=mask_dn)
    if HAS_D:
        tl.store(grad_D_ptr + pid_b * dim + chan, grad_D, mask=mask_d)


def _launch_shape(dim: int, groups: int, nstate: int) -> tuple[int, int, int]:
    """(BLOCK_D, BLOCK_N, channel blocks per group)."""
    per_group = dim // groups
    block_n = triton.next_power_of_2(nstate)
    block_d = max(1, min(triton.next_power_of_2(per_group), MAX_TILE // block_n))
    return block_d, block_n, triton.cdiv(per_group, block_d)


class _SelectiveScanTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, softplus):  # type: ignore[override]
        u, delta, A, B, C = (t.contiguous() for t in (u, delta, A, B, C))
        D, z, delta_bias = (None if t is None else t.contiguous() for t in (D, z, delta_bias))
        batch, dim, length = u.shape
        groups, nstate = B.shape[1], A.shape[1]
        block_d, block_n, n_blocks = _launch_shape(dim, groups, nstate)
        chunk = min(CHUNK, triton.next_power_of_2(max(length, 1)))  # short: no idle steps
        n_chunks = triton.cdiv(length, chunk)
        y = torch.empty_like(u)
        ckpt = u.new_empty(batch, n_chunks, dim, nstate, dtype=torch.float32)
        last = u.new_empty(batch, dim, nstate, dtype=torch.float32)
        _selective_scan_fwd_kernel[(batch, groups, n_blocks)](
            u, delta, A, B, C, _or(D, u), _or(z, u), _or(delta_bias, u),
            y, ckpt, last,
            dim, length, nstate, groups, dim // groups, n_chunks,
            HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None,
            SOFTPLUS=softplus, CHUNK=chunk, BLOCK_D=block_d, BLOCK_N=block_n,
        )  # fmt: skip
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, ckpt)
        ctx.chunk = chunk
        ctx.softplus = softplus
        return y, last

    @staticmethod
    def backward(ctx, grad_y, grad_last):  # type: ignore[override]
        u, delta, A, B, C, D, z, delta_bias, ckpt = ctx.saved_tensors
        batch, dim, length = u.shape
        groups, nstate = B.shape[1], A.shape[1]
        block_d, block_n, n_blocks = _launch_shape(dim, groups, nstate)
        n_chunks, chunk = ckpt.shape[1], ctx.chunk
        f32 = {"dtype": torch.float32}
        grad_u = u.new_empty(u.shape, **f32)
        grad_delta = u.new_empty(u.shape, **f32)
        grad_z = torch.empty_like(z) if z is not None else None
        grad_A = u.new_empty(batch, dim, nstate, **f32)
        grad_D = u.new_empty(batch, dim, **f32)
        grad_B = u.new_empty(batch, groups, n_blocks, nstate, length, **f32)
        grad_C = torch.empty_like(grad_B)
        scratch = u.new_empty(batch * groups * n_blocks, chunk, block_d, block_n, **f32)
        if grad_last is not None:
            grad_last = grad_last.float().contiguous()
        _selective_scan_bwd_kernel[(batch, groups, n_blocks)](
            u, delta, A, B, C, _or(D, u), _or(z, u), _or(delta_bias, u),
            grad_y.contiguous(), _or(grad_last, u), ckpt, scratch,
            grad_u, grad_delta, _or(grad_z, u), grad_A, grad_D, grad_B, grad_C,
            dim, length, nstate, groups, dim // groups, n_chunks, n_blocks,
            HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None,
            SOFTPLUS=ctx.softplus, HAS_GRAD_LAST=grad_last is not None,
            CHUNK=chunk, BLOCK_D=block_d, BLOCK_N=block_n,
        )  # fmt: skip
        return (
            grad_u.to(u.dtype),
            grad_delta.to(delta.dtype),
            grad_A.sum(0).to(A.dtype),
            grad_B.sum(2).to(B.dtype),
            grad_C.sum(2).to(C.dtype),
            None if D is None else grad_D.sum(0).to(D.dtype),
            grad_z,
            None if delta_bias is None else grad_delta.sum((0, 2)).to(delta_bias.dtype),
            None,
        )


def _or(tensor: torch.Tensor | None, placeholder: torch.Tensor) -> torch.Tensor:
    """A pointer for an absent optional input; the kernel never reads it (constexpr flag)."""
    return placeholder if tensor is None else tensor


def selective_scan_triton(
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
    """(y in u's dtype, last_state in fp32); B, C arrive grouped, (batch, G, N, L)."""
    return _SelectiveScanTriton.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
