"""Backend choice shared by every op in ``kernels``.

``"auto"`` picks Triton for CUDA tensors, and for CPU tensors the fused C kernels (``"cpu"``,
built with the system's C compiler on first use) or, where they cannot be built, the chunked
PyTorch path (``"torch"``). The environment variable ``NAS_KERNEL_BACKEND`` forces one backend
for every call that asks for ``"auto"`` (for example ``NAS_KERNEL_BACKEND=reference`` while
debugging a model).
"""

from __future__ import annotations

import os
from typing import Literal

import torch

Backend = Literal["auto", "triton", "cpu", "torch", "reference"]
BACKENDS: tuple[str, ...] = ("auto", "triton", "cpu", "torch", "reference")
ENV_VAR = "NAS_KERNEL_BACKEND"


def resolve_backend(backend: str, device: torch.device) -> str:
    """The concrete backend ("triton", "cpu", "torch" or "reference") to run on ``device``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "auto":
        forced = os.environ.get(ENV_VAR, "").strip()
        if forced:
            if forced not in BACKENDS or forced == "auto":
                raise ValueError(
                    f"{ENV_VAR}={forced!r} is not a backend: use triton, cpu, torch or reference"
                )
            backend = forced
        elif device.type == "cuda":
            backend = "triton"
        else:
            backend = "cpu" if cpu_unavailable_reason() is None else "torch"
    if backend == "triton" and device.type != "cuda" and not triton_interpreter_enabled():
        raise ValueError(
            f"the triton backend needs CUDA tensors, or TRITON_INTERPRET=1 for {device.type} "
            "tensors; use backend='torch' on CPU"
        )
    if backend == "cpu":
        if device.type != "cpu":
            raise ValueError(f"the cpu backend needs CPU tensors, got {device.type} tensors")
        reason = cpu_unavailable_reason()
        if reason is not None:
            raise ValueError(
                f"the cpu backend cannot be built here ({reason}); use backend='torch'"
            )
    return backend


def cpu_unavailable_reason() -> str | None:
    """Why the C kernels of the ``cpu`` backend cannot be built and loaded here, or None."""
    from kernels import _native  # the sources sit beside each op
    from kernels.conv1d.cpu import SOURCE as CONV_SOURCE
    from kernels.selective_scan.cpu import SOURCE as SCAN_SOURCE
    from kernels.ssd.cpu import SOURCE as SSD_SOURCE

    for source in (SCAN_SOURCE, SSD_SOURCE, CONV_SOURCE):
        reason = _native.unavailable_reason(source)
        if reason is not None:
            return reason
    return None


def triton_interpreter_enabled() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
