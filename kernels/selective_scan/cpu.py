"""The fused CPU selective scan: ``cpu.c``, compiled on first use, behind autograd.

One pass over time per block of 16 channels with the block's (N, 16) state in L1, so that no
(batch, L, dim, N) tensor is ever written: the forward keeps the state at every ``CHUNK``-th
step, and the backward recomputes one chunk of one block at a time from it. The per-token
elementwise parts (bias, softplus, D, z) run in the same pass: PyTorch's softplus and silu
on CPU, and products of tensors in two layouts, would cost more than the scan itself. What
is left here is the layout change, to time-major with channels padded per group to whole
blocks.

Inputs arrive checked and with B, C in grouped form (batch, G, N, L).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

from kernels import _native
from kernels._native import batch_parts, pointer, run_parts

SOURCE = Path(__file__).with_name("cpu.c")
LANES = 16  # W in cpu.c: channels per block
CHUNK = 64  # steps between stored states: the unit of recomputation in the backward


def selective_scan_cpu(
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
    """(y, last_state): y (batch, dim, L) in fp32 (a transposed view of a time-major tensor),
    last_state (batch, dim, N) in fp32."""
    dim, groups = u.shape[1], B.shape[1]
    per_group = dim // groups
    padded = -(-per_group // LANES) * LANES

    def channels(t: torch.Tensor) -> torch.Tensor:  # (..., dim) -> (..., G * padded)
        t = t.float()
        if padded != per_group:
            t = F.pad(t.unflatten(-1, (groups, per_group)), (0, padded - per_group)).flatten(-2)
        return t.contiguous()

    def optional(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else channels(t)

    y, last = _FusedScan.apply(
        bool(delta_softplus),
        channels(_TimeMajor.apply(u)),  # (batch, L, P)
        channels(_TimeMajor.apply(delta)),
        channels(A.t()),  # (N, P)
        B.float().permute(0, 3, 1, 2).contiguous(),  # (batch, L, G, N)
        C.float().permute(0, 3, 1, 2).contiguous(),
        optional(D),
        optional(None if z is None else _TimeMajor.apply(z)),
        optional(delta_bias),
    )
    if padded != per_group:
        y = y.unflatten(-1, (groups, padded))[..., :per_group].flatten(-2)
        last = last.unflatten(-1, (groups, padded))[..., :per_group].flatten(-2)
    return y.transpose(1, 2), last.transpose(1, 2)


class _FusedScan(torch.autograd.Function):
    """The whole op of :func:`selective_scan_cpu` on time-major, padded tensors, in cpu.c.

    Inputs, fp32 and contiguous: u, delta, z (batch, L, P); A (N, P); B, C (batch, L, G, N);
    D, bias (P,); z, D and bias may be None. Outputs y (batch, L, P), last state (batch, N, P).
    """

    @staticmethod
    def forward(ctx, softplus, u, delta, A, B, C, D, z, bias):  # type: ignore[override]
        batch, length, channels = u.shape
        groups, nstate = B.shape[2:]
        chunks = -(-length // CHUNK)
        y = torch.empty_like(u)
        starts = u.new_empty(batch, chunks, nstate, channels)
        last = u.new_empty(batch, nstate, channels)
        parts = batch_parts(batch)
        work = u.new_empty(len(parts), channels * nstate)

        def part(i: int, p: slice) -> Callable[[], None]:
            per_batch = (u[p], delta[p], A, B[p], C[p], D, z if z is None else z[p], bias)
            return partial(
                _library().selective_scan_fwd,
                p.stop - p.start, length, channels, nstate, groups, CHUNK, softplus,
                *map(pointer, (*per_batch, y[p], starts[p], last[p], work[i])),
            )  # fmt: skip

        run_parts([part(i, p) for i, p in enumerate(parts)])
        ctx.softplus = softplus
        ctx.save_for_backward(u, delta, A, B, C, D, z, bias, starts)
        return y, last

    @staticmethod
    def backward(ctx, grad_y, grad_last):  # type: ignore[override]
        u, delta, A, B, C, D, z, bias, starts = ctx.saved_tensors
        batch, length, channels = u.shape
        groups, nstate = B.shape[2:]
        grad_y = grad_y.float().contiguous()
        if grad_last is not None:
            grad_last = grad_last.float().contiguous()
        grad_u, grad_delta = torch.empty_like(u), torch.empty_like(delta)
        grad_B, grad_C = torch.empty_like(B), torch.empty_like(C)
        grad_z = None if z is None else torch.empty_like(z)
        parts = batch_parts(batch)
        # what sums over the batch gets one buffer per part, added up after
        grad_A = A.new_zeros(len(parts), *A.shape)
        grad_D = None if D is None else D.new_zeros(len(parts), *D.shape)
        grad_bias = None if bias is None else bias.new_zeros(len(parts), *bias.shape)
        work = u.new_empty(
            len(parts),
            nstate * (2 * CHUNK * LANES * (1 + groups) + channels + LANES) + CHUNK * LANES,
        )

        def part(i: int, p: slice) -> Callable[[], None]:
            def at(t: torch.Tensor | None) -> torch.Tensor | None:
                return None if t is None else t[p]

            def own(t: torch.Tensor | None) -> torch.Tensor | None:
                return None if t is None else t[i]

            return partial(
                _library().selective_scan_bwd,
                p.stop - p.start, length, channels, nstate, groups, CHUNK, ctx.softplus,
                *map(pointer, (u[p], delta[p], A, B[p], C[p], D, at(z), bias, starts[p])),
                *map(pointer, (grad_y[p], at(grad_last), grad_u[p], grad_delta[p], grad_A[i])),
                *map(pointer, (grad_B[p], grad_C[p], own(grad_D), at(grad_z), own(grad_bias))),
                pointer(work[i]),
            )  # fmt: skip

        run_parts([part(i, p) for i, p in enumerate(parts)])
        grad_A = grad_A.sum(0)
        grad_D = None if grad_D is None else grad_D.sum(0)
        grad_bias = None if grad_bias is None else grad_bias.sum(0)
        return None, grad_u, grad_delta, grad_A, grad_B, grad_C, grad_D, grad_z, grad_bias


class _TimeMajor(torch.autograd.Function):
    """(batch, X, L) -> (batch, L, X), contiguous fp32: a view where the input is a transposed
    time-major tensor (as in the models), else a tiled copy in cpu.c. Its grad stays a view."""

    @staticmethod
    def forward(ctx, t):  # type: ignore[override]
        flipped = t.transpose(1, 2)
        if flipped.is_contiguous():
            return flipped.float()
        t = t.float().contiguous()
        out = t.new_empty(flipped.shape)
        _library().transpose_last2(*t.shape, pointer(t), pointer(out))
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return grad.transpose(1, 2)


def _library() -> ctypes.CDLL:
    return _native.load(
        SOURCE,
        {"selective_scan_fwd": (7, 12), "selective_scan_bwd": (7, 20), "transpose_last2": (3, 2)},
    )
