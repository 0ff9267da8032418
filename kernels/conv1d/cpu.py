"""The fused CPU causal conv1d: ``cpu.c``, compiled on first use, behind autograd.

It reads x where it lies, a time-major slice of a wider projection (only its channels must be
contiguous), so that a Mamba block's conv needs no transposes, padding or copies, and runs
the SiLU in the same pass.
"""

from __future__ import annotations

import ctypes
from functools import partial
from pathlib import Path

import torch

from kernels import _native
from kernels._native import batch_parts, pointer, run_parts

SOURCE = Path(__file__).with_name("cpu.c")
LANES = 16  # W in kernels/_vec.h


def causal_conv1d_cpu(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, silu: bool
) -> torch.Tensor:
    """(batch, L, C) in fp32: x (batch, L, C), weight (C, K), bias (C,) or None."""
    x = x.float()
    if x.stride(2) != 1 or x.stride(0) != x.shape[1] * x.stride(1):
        x = x.contiguous()  # the kernel reads rows of C floats, x.stride(1) apart
    bias = None if bias is None else bias.float().contiguous()
    return _FusedConv.apply(x, weight.float().t().contiguous(), bias, bool(silu))


class _FusedConv(torch.autograd.Function):
    """x (batch, L, C) with unit channel stride; w (K, C); bias (C,) or None."""

    @staticmethod
    def forward(ctx, x, w, bias, silu):  # type: ignore[override]
        batch, length, channels = x.shape
        y = x.new_empty(batch, length, channels)
        run_parts([
            partial(
                _library().conv1d_fwd,
                p.stop - p.start, length, channels, w.shape[0], x.stride(1), silu,
                *map(pointer, (x[p], w, bias, y[p])),
            )
            for p in batch_parts(batch)
        ])  # fmt: skip
        ctx.silu = silu
        ctx.save_for_backward(x, w, bias)
        return y

    @staticmethod
    def backward(ctx, grad_y):  # type: ignore[override]
        x, w, bias = ctx.saved_tensors
        batch, length, channels = x.shape
        grad_y = grad_y.float().contiguous()
        grad_x = x.new_empty(batch, length, channels)
        parts = batch_parts(batch)
        grad_w = w.new_zeros(len(parts), *w.shape)  # one per part, added up after
        grad_bias = None if bias is None else bias.new_zeros(len(parts), *bias.shape)
        work = x.new_empty(len(parts), length * LANES)
        run_parts([
            partial(
                _library().conv1d_bwd,
                p.stop - p.start, length, channels, w.shape[0], x.stride(1), ctx.silu,
                *map(pointer, (x[p], w, bias, grad_y[p], grad_x[p], grad_w[i])),
                pointer(None if grad_bias is None else grad_bias[i]), pointer(work[i]),
            )
            for i, p in enumerate(parts)
        ])  # fmt: skip
        return grad_x, grad_w.sum(0), None if grad_bias is None else grad_bias.sum(0), None


def _library() -> ctypes.CDLL:
    return _native.load(SOURCE, {"conv1d_fwd": (6, 4), "conv1d_bwd": (6, 8)})
