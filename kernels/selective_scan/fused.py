"""Triton kernels for the selective scan, forward and backward, wired through autograd.

One program owns a block of ``BLOCK_D`` channels of one group in one batch row and walks a
stretch of time, holding the state as a [BLOCK_D, N] fp32 tile in registers; bias, softplus,
D and the z gate are fused in. Every ``CHUNK`` steps the forward writes the state to a
checkpoint. The backward walks the chunks last to first: it recomputes a chunk's states from
its checkpoint into a per-program scratch buffer, then runs the chunk in reverse, carrying
decay_t * grad_h_t back to the state before. Each state is a product of decays
exp(dt * A) <= 1 (A <= 0) applied to bounded inputs, so no exponent is ever positive.

Time segments: when batch * channel blocks alone would leave a GPU idle (small batch, long
L), time is cut into segments of whole chunks that run in parallel. Forward: each segment
is scanned from a zero state (LOCAL), a small kernel carries the true state across segments
with their total decay exp(A * sum(dt)), and each segment is scanned again from its true
start. Backward likewise: each segment's carry from zero, the carries combined in reverse,
then the full backward of each segment from its true inflow. One segment (always off CUDA)
is the plain sequential walk.

Reductions that cross programs are written per program and summed in torch: grad_A and
grad_D per batch row and segment, grad_B and grad_C per channel block.

Conservative Triton: power-of-two constexpr block shapes with masks on every load and store,
loops with runtime bounds and no data-dependent branches, masks built from vectors (the
interpreter rejects scalar ones), so the kernels behave the same compiled for a GPU and
under ``TRITON_INTERPRET=1``; tests also compile them to sm_90 cubins without a GPU.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

CHUNK = 64  # steps between state checkpoints: backward memory is N * L / CHUNK per channel
# BLOCK_D * BLOCK_N cap: a small state tile keeps registers free and makes more programs
MAX_TILE = 256
PROGRAMS_PER_SM = 4  # on CUDA, split time into segments until about this many programs run


@triton.jit
def _softplus(x):
    return tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(x)))


@triton.jit
def _step_inputs(
    u_ptr, delta_ptr, B_ptr, C_ptr, row, bc_row, t, bias, m, mask_nt, SOFTPLUS: tl.constexpr
):
    """u_t, delta_t + bias (before softplus), dt_t (0 past the end), B_t, C_t, all fp32."""
    u = tl.load(u_ptr + row + t, mask=m, other=0.0).to(tl.float32)
    pre = tl.load(delta_ptr + row + t, mask=m, other=0.0).to(tl.float32) + bias
    dt = pre
    if SOFTPLUS:
        dt = _softplus(pre)
    dt = tl.where(m, dt, 0.0)  # past the end: decay 1 and no input, so the state holds
    Bt = tl.load(B_ptr + bc_row + t, mask=mask_nt, other=0.0).to(tl.float32)
    Ct = tl.load(C_ptr + bc_row + t, mask=mask_nt, other=0.0).to(tl.float32)
    return u, pre, dt, Bt, Ct


@triton.jit
def _selective_scan_fwd_kernel(
    u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr,
    y_ptr, ckpt_ptr, seg_state_ptr, dt_sum_ptr, last_ptr,
    dim, length, nstate, groups, per_group, n_chunks, seg_chunks, n_segs,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    LOCAL: tl.constexpr, CHUNK: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    """One program: channels of one block and group, one batch row, one time segment.

    LOCAL: scan the segment from a zero state; write its end state to seg_state and its
    sum of dt to dt_sum. Otherwise: scan it from seg_state (its true start state), writing
    y, a checkpoint at each chunk start and, for the last segment, the last state.
    """
    pid_b = tl.program_id(0).to(tl.int64)
    pid_g = tl.program_id(1)
    seg = tl.program_id(2) % n_segs
    offs_in = (tl.program_id(2) // n_segs) * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = offs_in < per_group
    chan = (pid_g * per_group + offs_in).to(tl.int64)
    offs_n = tl.arange(0, BLOCK_N)
    mask_n = offs_n < nstate
    mask_dn = mask_d[:, None] & mask_n[None, :]
    zero_d = tl.zeros([BLOCK_D], dtype=tl.int32)
    zero_n = tl.zeros([BLOCK_N], dtype=tl.int32)
    zero_dn = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.int32)
    tile = chan[:, None] * nstate + offs_n[None, :]  # (d, n) offsets within a (dim, N) slab
    seg_tile = (pid_b * n_segs + seg) * dim * nstate + tile  # within (batch, n_segs, dim, N)

    A = tl.load(A_ptr + tile, mask=mask_dn, other=0.0).to(tl.float32)
    D = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_D:
        D = tl.load(D_ptr + chan, mask=mask_d, other=0.0).to(tl.float32)
    bias = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + chan, mask=mask_d, other=0.0).to(tl.float32)
    row = (pid_b * dim + chan) * length  # start of (b, d, :) in u, delta, z, y
    bc_row = ((pid_b * groups + pid_g) * nstate + offs_n) * length  # start of (b, g, n, :)

    h = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    dt_sum = tl.zeros([BLOCK_D], dtype=tl.float32)
    if not LOCAL:
        h = tl.load(seg_state_ptr + seg_tile, mask=mask_dn, other=0.0)
    for ci in range(0, seg_chunks):
        c = seg * seg_chunks + ci
        if not LOCAL:
            in_range = mask_dn & (zero_dn + c < n_chunks)
            tl.store(ckpt_ptr + (pid_b * n_chunks + c) * dim * nstate + tile, h, mask=in_range)
        for k in range(0, CHUNK):
            t = c * CHUNK + k
            m = mask_d & (zero_d + t < length)
            mask_nt = mask_n & (zero_n + t < length)
            u, _, dt, Bt, Ct = _step_inputs(
                u_ptr, delta_ptr, B_ptr, C_ptr, row, bc_row, t, bias, m, mask_nt, SOFTPLUS
            )
            h = tl.exp(dt[:, None] * A) * h + (dt * u)[:, None] * Bt[None, :]
            if LOCAL:
                dt_sum += dt
            else:
                y = tl.sum(h * Ct[None, :], axis=1) + D * u
                if HAS_Z:
                    z = tl.load(z_ptr + row + t, mask=m, other=0.0).to(tl.float32)
                    y *= z * tl.sigmoid(z)
                tl.store(y_ptr + row + t, y.to(y_ptr.dtype.element_ty), mask=m)
    if LOCAL:
        tl.store(seg_state_ptr + seg_tile, h, mask=mask_dn)
        tl.store(dt_sum_ptr + (pid_b * n_segs + seg) * dim + chan, dt_sum, mask=mask_d)
    else:
        is_last = mask_dn & (zero_dn + seg == n_segs - 1)
        tl.store(last_ptr + pid_b * dim * nstate + tile, h, mask=is_last)


@triton.jit
def _selective_scan_combine_kernel(
    A_ptr, dt_sum_ptr, local_ptr, init_ptr, out_ptr,
    dim, nstate, per_group, n_segs,
    HAS_INIT: tl.constexpr, REVERSE: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    """Carry across time segments: out[s] = what enters segment s, then
    x <- exp(A * dt_sum[s]) * x + local[s], in time order (states) or reversed (grads)."""
    pid_b = tl.program_id(0).to(tl.int64)
    offs_in = tl.program_id(2) * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = offs_in < per_group
    chan = (tl.program_id(1) * per_group + offs_in).to(tl.int64)
    offs_n = tl.arange(0, BLOCK_N)
    mask_dn = mask_d[:, None] & (offs_n < nstate)[None, :]
    tile = chan[:, None] * nstate + offs_n[None, :]
    A = tl.load(A_ptr + tile, mask=mask_dn, other=0.0).to(tl.float32)
    x = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    if HAS_INIT:
        x = tl.load(init_ptr + pid_b * dim * nstate + tile, mask=mask_dn, other=0.0)
    for i in range(0, n_segs):
        seg = i
        if REVERSE:
            seg = n_segs - 1 - i
        at = (pid_b * n_segs + seg) * dim * nstate + tile
        tl.store(out_ptr + at, x, mask=mask_dn)
        dt_sum = tl.load(dt_sum_ptr + (pid_b * n_segs + seg) * dim + chan, mask=mask_d, other=0.0)
        local = tl.load(local_ptr + at, mask=mask_dn, other=0.0)
        x = tl.exp(dt_sum[:, None] * A) * x + local


@triton.jit
def _selective_scan_bwd_kernel(
    u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr,
    grad_y_ptr, ckpt_ptr, seg_grad_ptr, scratch_ptr,
    grad_u_ptr, grad_delta_ptr, grad_z_ptr, grad_A_ptr, grad_D_ptr, grad_B_ptr, grad_C_ptr,
    dim, length, nstate, groups, per_group, n_chunks, n_blocks, seg_chunks, n_segs,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    LOCAL: tl.constexpr, CHUNK: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    """One program: channels of one block and group, one batch row, one time segment, in reverse.

    The carry is decay_t * grad_h_t, what flows from step t into the state before it.
    LOCAL: run the segment's carry from zero and write what leaves its start to seg_grad.
    Otherwise: start from seg_grad (what truly flows in after the segment) and, chunk by
    chunk from the last, recompute the states from the checkpoint into this program's
    scratch, then walk the chunk backwards writing every gradient.
    """
    pid_b = tl.program_id(0).to(tl.int64)
    pid_g = tl.program_id(1)
    seg = tl.program_id(2) % n_segs
    pid_blk = tl.program_id(2) // n_segs
    offs_in = pid_blk * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = offs_in < per_group
    chan = (pid_g * per_group + offs_in).to(tl.int64)
    offs_n = tl.arange(0, BLOCK_N)
    mask_n = offs_n < nstate
    mask_dn = mask_d[:, None] & mask_n[None, :]
    zero_d = tl.zeros([BLOCK_D], dtype=tl.int32)
    zero_n = tl.zeros([BLOCK_N], dtype=tl.int32)
    zero_dn = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.int32)
    tile = chan[:, None] * nstate + offs_n[None, :]
    seg_tile = (pid_b * n_segs + seg) * dim * nstate + tile

    A = tl.load(A_ptr + tile, mask=mask_dn, other=0.0).to(tl.float32)
    D = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_D:
        D = tl.load(D_ptr + chan, mask=mask_d, other=0.0).to(tl.float32)
    bias = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + chan, mask=mask_d, other=0.0).to(tl.float32)
    row = (pid_b * dim + chan) * length
    bc_row = ((pid_b * groups + pid_g) * nstate + offs_n) * length
    # grad_B, grad_C partials: (batch, groups, n_blocks, N, L), one row per channel block
    part_row = (((pid_b * groups + pid_g) * n_blocks + pid_blk) * nstate + offs_n) * length
    # this program's scratch: the CHUNK states before each step of the current chunk
    pid_flat = ((pid_b * groups + pid_g) * n_blocks + pid_blk) * n_segs + seg
    scratch = scratch_ptr + pid_flat * CHUNK * BLOCK_D * BLOCK_N
    scratch_tile = tl.arange(0, BLOCK_D)[:, None] * BLOCK_N + offs_n[None, :]

    carry = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    if not LOCAL:
        carry = tl.load(seg_grad_ptr + seg_tile, mask=mask_dn, other=0.0)
    grad_A = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    grad_D = tl.zeros([BLOCK_D], dtype=tl.float32)

    for ci in range(0, seg_chunks):
        c = seg * seg_chunks + seg_chunks - 1 - ci
        if not LOCAL:
            # 1. recompute the chunk's states from its checkpoint; keep the one before each step
            ckpt_mask = mask_dn & (zero_dn + c < n_chunks)
            h = tl.load(
                ckpt_ptr + (pid_b * n_chunks + c) * dim * nstate + tile, mask=ckpt_mask, other=0.0
            )
            for k in range(0, CHUNK):
                t = c * CHUNK + k
                m = mask_d & (zero_d + t < length)
                mask_nt = mask_n & (zero_n + t < length)
                tl.store(scratch + k * BLOCK_D * BLOCK_N + scratch_tile, h)
                u, _, dt, Bt, _ = _step_inputs(
                    u_ptr, delta_ptr, B_ptr, C_ptr, row, bc_row, t, bias, m, mask_nt, SOFTPLUS
                )
                h = tl.exp(dt[:, None] * A) * h + (dt * u)[:, None] * Bt[None, :]
            tl.debug_barrier()
        # 2. the chunk in reverse
        for ki in range(0, CHUNK):
            k = CHUNK - 1 - ki
            t = c * CHUNK + k
            m = mask_d & (zero_d + t < length)
            mask_nt = mask_n & (zero_n + t < length)
            u, pre, dt, Bt, Ct = _step_inputs(
                u_ptr, delta_ptr, B_ptr, C_ptr, row, bc_row, t, bias, m, mask_nt, SOFTPLUS
            )
            g = tl.load(grad_y_ptr + row + t, mask=m, other=0.0).to(tl.float32)
            if HAS_Z:
                z = tl.load(z_ptr + row + t, mask=m, other=0.0).to(tl.float32)
                sig = tl.sigmoid(z)
            decay = tl.exp(dt[:, None] * A)
            if LOCAL:
                if HAS_Z:
                    g = g * z * sig
                carry = decay * (carry + g[:, None] * Ct[None, :])
            else:
                h_prev = tl.load(scratch + k * BLOCK_D * BLOCK_N + scratch_tile)
                dtu = dt * u
                h = decay * h_prev + dtu[:, None] * Bt[None, :]
                if HAS_Z:
                    y = tl.sum(h * Ct[None, :], axis=1) + D * u
                    grad_z = g * y * sig * (1.0 + z * (1.0 - sig))
                    tl.store(grad_z_ptr + row + t, grad_z.to(grad_z_ptr.dtype.element_ty), mask=m)
                    g = g * z * sig
                grad_D += g * u
                grad_h = carry + g[:, None] * Ct[None, :]
                tl.store(grad_C_ptr + part_row + t, tl.sum(g[:, None] * h, axis=0), mask=mask_nt)
                tl.store(
                    grad_B_ptr + part_row + t, tl.sum(grad_h * dtu[:, None], axis=0), mask=mask_nt
                )
                grad_dtu = tl.sum(grad_h * Bt[None, :], axis=1)
                grad_log_decay = grad_h * decay * h_prev  # grad of dt * A
                grad_A += grad_log_decay * dt[:, None]
                grad_dt = grad_dtu * u + tl.sum(grad_log_decay * A, axis=1)
                if SOFTPLUS:
                    grad_dt = grad_dt * tl.where(pre > 20.0, 1.0, tl.sigmoid(pre))
                tl.store(grad_u_ptr + row + t, grad_dtu * dt + g * D, mask=m)
                tl.store(grad_delta_ptr + row + t, grad_dt, mask=m)
                carry = decay * grad_h
        if not LOCAL:
            tl.debug_barrier()
    if LOCAL:
        tl.store(seg_grad_ptr + seg_tile, carry, mask=mask_dn)
    else:
        tl.store(grad_A_ptr + seg_tile, grad_A, mask=mask_dn)
        tl.store(grad_D_ptr + (pid_b * n_segs + seg) * dim + chan, grad_D, mask=mask_d)


def _launch_shape(dim: int, groups: int, nstate: int) -> tuple[int, int, int]:
    """(BLOCK_D, BLOCK_N, channel blocks per group)."""
    per_group = dim // groups
    block_n = triton.next_power_of_2(nstate)
    block_d = max(1, min(triton.next_power_of_2(per_group), MAX_TILE // block_n))
    return block_d, block_n, triton.cdiv(per_group, block_d)


def _target_programs(device: torch.device) -> int:
    """How many programs keep the device busy; 1 (no time segments) off CUDA."""
    if device.type != "cuda":
        return 1
    return PROGRAMS_PER_SM * torch.cuda.get_device_properties(device).multi_processor_count


def _segments(programs: int, n_chunks: int, device: torch.device) -> tuple[int, int]:
    """(segments, chunks per segment): time is split only when channels alone leave the
    device idle, since each segment costs an extra pass over its inputs."""
    wanted = max(1, min(n_chunks, triton.cdiv(_target_programs(device), programs)))
    seg_chunks = max(1, triton.cdiv(n_chunks, wanted))
    return max(1, triton.cdiv(n_chunks, seg_chunks)), seg_chunks


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
        n_segs, seg_chunks = _segments(batch * groups * n_blocks, n_chunks, u.device)
        f32 = {"dtype": torch.float32}
        y = torch.empty_like(u)
        ckpt = u.new_empty(batch, n_chunks, dim, nstate, **f32)
        last = u.new_empty(batch, dim, nstate, **f32)
        seg_state = u.new_zeros(batch, n_segs, dim, nstate, **f32)
        dt_sum = u.new_empty(batch, n_segs, dim, **f32)
        grid = (batch, groups, n_blocks * n_segs)
        common = dict(
            HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None,
            SOFTPLUS=softplus, CHUNK=chunk, BLOCK_D=block_d, BLOCK_N=block_n,
        )  # fmt: skip
        args = (u, delta, A, B, C, _or(D, u), _or(z, u), _or(delta_bias, u))
        sizes = (dim, length, nstate, groups, dim // groups, n_chunks, seg_chunks, n_segs)
        if n_segs > 1:  # each segment's own end state, then the true start of each
            seg_end = torch.empty_like(seg_state)
            _selective_scan_fwd_kernel[grid](
                *args, y, ckpt, seg_end, dt_sum, last, *sizes, LOCAL=True, **common
            )
            _selective_scan_combine_kernel[(batch, groups, n_blocks)](
                A, dt_sum, seg_end, seg_end, seg_state, dim, nstate, dim // groups, n_segs,
                HAS_INIT=False, REVERSE=False, BLOCK_D=block_d, BLOCK_N=block_n,
            )  # fmt: skip
        _selective_scan_fwd_kernel[grid](
            *args, y, ckpt, seg_state, dt_sum, last, *sizes, LOCAL=False, **common
        )
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, ckpt, dt_sum)
        ctx.chunk, ctx.softplus = chunk, softplus
        return y, last

    @staticmethod
    def backward(ctx, grad_y, grad_last):  # type: ignore[override]
        u, delta, A, B, C, D, z, delta_bias, ckpt, dt_sum = ctx.saved_tensors
        batch, dim, length = u.shape
        groups, nstate = B.shape[1], A.shape[1]
        block_d, block_n, n_blocks = _launch_shape(dim, groups, nstate)
        n_chunks, chunk, n_segs = ckpt.shape[1], ctx.chunk, dt_sum.shape[1]
        seg_chunks = max(1, triton.cdiv(n_chunks, n_segs))
        f32 = {"dtype": torch.float32}
        grad_u = u.new_empty(u.shape, **f32)
        grad_delta = u.new_empty(u.shape, **f32)
        grad_z = torch.empty_like(z) if z is not None else None
        grad_A = u.new_empty(batch, n_segs, dim, nstate, **f32)
        grad_D = u.new_empty(batch, n_segs, dim, **f32)
        grad_B = u.new_empty(batch, groups, n_blocks, nstate, length, **f32)
        grad_C = torch.empty_like(grad_B)
        programs = batch * groups * n_blocks * n_segs
        scratch = u.new_empty(programs, chunk, block_d, block_n, **f32)
        grad_last = u.new_zeros(batch, dim, nstate, **f32) if grad_last is None else grad_last
        # what flows into each segment from after it: the grad of the last state for the last
        seg_grad = grad_last.float().reshape(batch, 1, dim, nstate).contiguous()
        grid = (batch, groups, n_blocks * n_segs)
        common = dict(
            HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None,
            SOFTPLUS=ctx.softplus, CHUNK=chunk, BLOCK_D=block_d, BLOCK_N=block_n,
        )  # fmt: skip
        args = (
            u,
            delta,
            A,
            B,
            C,
            _or(D, u),
            _or(z, u),
            _or(delta_bias, u),
            grad_y.contiguous(),
            ckpt,
        )
        grads = (grad_u, grad_delta, _or(grad_z, u), grad_A, grad_D, grad_B, grad_C)
        sizes = (dim, length, nstate, groups, dim // groups, n_chunks, n_blocks, seg_chunks, n_segs)
        if n_segs > 1:  # what each segment passes back on its own, then the true inflows
            seg_out = u.new_empty(batch, n_segs, dim, nstate, **f32)
            _selective_scan_bwd_kernel[grid](
                *args, seg_out, scratch, *grads, *sizes, LOCAL=True, **common
            )
            seg_grad = torch.empty_like(seg_out)
            _selective_scan_combine_kernel[(batch, groups, n_blocks)](
                A, dt_sum, seg_out, grad_last.float().contiguous(), seg_grad,
                dim, nstate, dim // groups, n_segs,
                HAS_INIT=True, REVERSE=True, BLOCK_D=block_d, BLOCK_N=block_n,
            )  # fmt: skip
        _selective_scan_bwd_kernel[grid](
            *args, seg_grad, scratch, *grads, *sizes, LOCAL=False, **common
        )
        return (
            grad_u.to(u.dtype),
            grad_delta.to(delta.dtype),
            grad_A.sum((0, 1)).to(A.dtype),
            grad_B.sum(2).to(B.dtype),
            grad_C.sum(2).to(C.dtype),
            None if D is None else grad_D.sum((0, 1)).to(D.dtype),
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
