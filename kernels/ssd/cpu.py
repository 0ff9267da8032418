"""The fused CPU SSD: ``cpu.c``, compiled on first use, behind autograd.

The recurrence S_t = a_t S_{t-1} + dt_t x_t B_t^T, y_t = S_t C_t step by step, one head and 16
head dims at a time with that slice of the state in L1: no (b, L, h, p, n) tensor and no
per-chunk (Q, Q) matrices are ever written. The forward keeps the state at every ``CHUNK``-th
step; the backward recomputes one chunk of one slice at a time from it. dt's bias and
softplus, D and z stay in PyTorch (they are per token, not per state element).

Inputs arrive checked; ``dt`` arrives already biased and softplussed (``_common.prepare_dt``).
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
from kernels.ssd._common import skip_and_gate

SOURCE = Path(__file__).with_name("cpu.c")
LANES = 16  # W in kernels/_vec.h: head dims per slice
CHUNK = 64  # steps between stored states: the unit of recomputation in the backward


def ssd_cpu(
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
    headdim = x.shape[-1]
    pad = -headdim % LANES
    x32 = x.float()
    initial = None
    if initial_states is not None:  # the kernel keeps states as (n, p) rows
        initial = F.pad(initial_states.float().transpose(-1, -2), (0, pad)).contiguous()
    y, final = _FusedSSD.apply(
        F.pad(x32, (0, pad)).contiguous(),
        dt.float().contiguous(),
        A.float().contiguous(),
        B.float().contiguous(),
        C.float().contiguous(),
        initial,
    )
    y = y[..., :headdim]
    # contiguous, like the other backends: the slice above may be a strided view
    return skip_and_gate(y, x32, D, z).contiguous(), final[..., :headdim].transpose(-1, -2)


class _FusedSSD(torch.autograd.Function):
    """The scan of :func:`ssd_cpu` on contiguous fp32 tensors with padded head dims, in cpu.c:
    x (b, L, h, Pp), dt (b, L, h), A (h,), B, C (b, L, g, n), initial (b, h, n, Pp) or None.
    Outputs y (b, L, h, Pp) and the final state (b, h, n, Pp)."""

    @staticmethod
    def forward(ctx, x, dt, A, B, C, initial):  # type: ignore[override]
        batch, length, heads, padded = x.shape
        groups, nstate = B.shape[2:]
        chunks = -(-length // CHUNK)
        y = torch.empty_like(x)
        starts = x.new_empty(batch, chunks, heads, nstate, padded)
        final = x.new_empty(batch, heads, nstate, padded)
        parts = batch_parts(batch)
        work = x.new_empty(len(parts), heads * nstate * padded)

        def part(i: int, p: slice) -> Callable[[], None]:
            init = None if initial is None else initial[p]
            return partial(
                _library().ssd_fwd,
                p.stop - p.start, length, heads, padded, nstate, groups, CHUNK,
                *map(pointer, (x[p], dt[p], A, B[p], C[p], init, y[p], starts[p], final[p])),
                pointer(work[i]),
            )  # fmt: skip

        run_parts([part(i, p) for i, p in enumerate(parts)])
        ctx.has_initial = initial is not None
        ctx.save_for_backward(x, dt, A, B, C, starts)
        return y, final

    @staticmethod
    def backward(ctx, grad_y, grad_final):  # type: ignore[override]
        x, dt, A, B, C, starts = ctx.saved_tensors
        batch, length, heads, padded = x.shape
        groups, nstate = B.shape[2:]
        grad_y = grad_y.float().contiguous()
        if grad_final is not None:
            grad_final = grad_final.float().contiguous()
        grad_x, grad_dt = torch.empty_like(x), torch.empty_like(dt)
        grad_B, grad_C = torch.empty_like(B), torch.empty_like(C)
        grad_initial = x.new_empty(batch, heads, nstate, padded)
        parts = batch_parts(batch)
        grad_A = A.new_zeros(len(parts), *A.shape)  # one per part, added up after
        work = x.new_empty(len(parts), CHUNK * nstate * LANES * (1 + 2 * groups))

        def part(i: int, p: slice) -> Callable[[], None]:
            final = None if grad_final is None else grad_final[p]
            return partial(
                _library().ssd_bwd,
                p.stop - p.start, length, heads, padded, nstate, groups, CHUNK,
                *map(pointer, (x[p], dt[p], A, B[p], C[p], starts[p], grad_y[p], final)),
                *map(pointer, (grad_x[p], grad_dt[p], grad_A[i], grad_B[p], grad_C[p])),
                *map(pointer, (grad_initial[p], work[i])),
            )  # fmt: skip

        run_parts([part(i, p) for i, p in enumerate(parts)])
        grad_initial = grad_initial if ctx.has_initial else None
        return grad_x, grad_dt, grad_A.sum(0), grad_B, grad_C, grad_initial


def _library() -> ctypes.CDLL:
    return _native.load(SOURCE, {"ssd_fwd": (7, 10), "ssd_bwd": (7, 15)})
