"""Kernels for the SSM layers: Mamba-1 selective scan, Mamba-2 SSD, and their causal conv1d.

Each scan has a Triton backend (forward and backward), fused C kernels for CPU tensors
(``cpu``, built with the system's C compiler on first use), a chunked PyTorch backend with
autograd, and a sequential reference; ``backend="auto"`` picks Triton on CUDA, ``cpu`` on CPU
(``torch`` where no C compiler is found), and ``NAS_KERNEL_BACKEND`` forces one. The conv has
a ``cpu`` kernel and PyTorch's conv1d. This package depends on torch and triton only.

Example:
    >>> import torch
    >>> from kernels import selective_scan
    >>> y = selective_scan(torch.randn(1, 4, 10), torch.rand(1, 4, 10), -torch.rand(4, 3),
    ...                    torch.randn(1, 3, 10), torch.randn(1, 3, 10))
    >>> y.shape
    torch.Size([1, 4, 10])
"""

from kernels._backend import BACKENDS, resolve_backend
from kernels.conv1d import causal_conv1d
from kernels.selective_scan import selective_scan, selective_scan_step
from kernels.ssd import ssd, ssd_step

__all__ = [
    "BACKENDS",
    "causal_conv1d",
    "resolve_backend",
    "selective_scan",
    "selective_scan_step",
    "ssd",
    "ssd_step",
]
