"""Causal depthwise conv1d with an optional SiLU: the conv of a Mamba block, time-major.

With the semantics of causal-conv1d's ``causal_conv1d_fn`` (which mamba_ssm calls on GPU), but
on (batch, L, channels), the layout a Mamba block's input projection produces::

    y[b, t, c] = act(bias[c] + sum_k weight[c, k] * x[b, t - K + 1 + k, c])   (x before 0 is 0)

Backends: ``"cpu"`` (fused C, CPU tensors: reads x in place, no transposes), ``"torch"`` and
``"reference"`` (PyTorch's depthwise ``conv1d``), ``"triton"`` (no kernel of its own yet: the
PyTorch path, which cuDNN serves on CUDA), ``"auto"`` (as for the scans).

Example:
    >>> import torch
    >>> from kernels import causal_conv1d
    >>> causal_conv1d(torch.randn(2, 10, 8), torch.randn(8, 4), torch.randn(8)).shape
    torch.Size([2, 10, 8])
"""

from __future__ import annotations

import torch

from kernels._backend import resolve_backend
from kernels._checks import check_tensor
from kernels.conv1d.cpu import causal_conv1d_cpu
from kernels.conv1d.naive import causal_conv1d_naive

__all__ = ["causal_conv1d"]


def causal_conv1d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    silu: bool = True,
    *,
    backend: str = "auto",
) -> torch.Tensor:
    """Shapes: x (batch, L, C), weight (C, K), bias (C,). Returns (batch, L, C) in x's dtype."""
    op = "causal_conv1d"
    if not isinstance(x, torch.Tensor) or x.dim() != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{op}: x must be a tensor of shape (batch, L, C), got {shape}")
    channels, device = x.shape[2], x.device
    check_tensor(op, "x", x, x.shape, "(batch, L, C)", device)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2 or weight.shape[1] < 1:
        raise ValueError(f"{op}: weight must be a tensor of shape (C, K) = ({channels}, K)")
    check_tensor(op, "weight", weight, (channels, weight.shape[1]), "(C, K)", device)
    check_tensor(op, "bias", bias, (channels,), "(C,)", device, optional=True)
    if resolve_backend(backend, device) == "cpu" and x.shape[1] > 0:
        y = causal_conv1d_cpu(x, weight, bias, silu)
    else:
        y = causal_conv1d_naive(x, weight, bias, silu)
    return y.to(x.dtype)
