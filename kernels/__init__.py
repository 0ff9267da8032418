"""Scan kernels for the SSM layers: Mamba-1 selective scan and Mamba-2 SSD.

Each op has a Triton backend (forward and backward), a chunked PyTorch backend with
autograd, and a sequential reference; ``backend="auto"`` picks Triton on CUDA and the
PyTorch path elsewhere, and ``NAS_KERNEL_BACKEND`` forces one. This package depends on
torch and triton only.

Example:
    >>> import torch
    >>> from kernels import selective_scan
    >>> y = selective_scan(torch.randn(1, 4, 10), torch.rand(1, 4, 10), -torch.rand(4, 3),
    ...                    torch.randn(1, 3, 10), torch.randn(1, 3, 10))
    >>> y.shape
    torch.Size([1, 4, 10])
"""

from kernels._backend import BACKENDS, resolve_backend
from kernels.selective_scan import selective_scan, selective_scan_step
from kernels.ssd import ssd, ssd_step

__all__ = [
    "BACKENDS",
    "resolve_backend",
    "selective_scan",
    "selective_scan_step",
    "ssd",
    "ssd_step",
]
