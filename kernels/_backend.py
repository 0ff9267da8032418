"""Backend choice shared by every op in ``kernels``.

``"auto"`` picks Triton for CUDA tensors and the chunked PyTorch path otherwise; the
environment variable ``NAS_KERNEL_BACKEND`` forces one backend for every call that asks
for ``"auto"`` (for example ``NAS_KERNEL_BACKEND=reference`` while debugging a model).
"""

from __future__ import annotations

import os
from typing import Literal

import torch

Backend = Literal["auto", "triton", "torch", "reference"]
BACKENDS: tuple[str, ...] = ("auto", "triton", "torch", "reference")
ENV_VAR = "NAS_KERNEL_BACKEND"


def resolve_backend(backend: str, device: torch.device) -> str:
    """The concrete backend ("triton", "torch" or "reference") to run on ``device``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "auto":
        forced = os.environ.get(ENV_VAR, "").strip()
        if forced:
            if forced not in BACKENDS or forced == "auto":
                raise ValueError(
                    f"{ENV_VAR}={forced!r} is not a backend: use triton, torch or reference"
                )
            backend = forced
        else:
            backend = "triton" if device.type == "cuda" else "torch"
    if backend == "triton" and device.type != "cuda" and not triton_interpreter_enabled():
        raise ValueError(
            f"the triton backend needs CUDA tensors, or TRITON_INTERPRET=1 for {device.type} "
            "tensors; use backend='torch' on CPU"
        )
    return backend


def triton_interpreter_enabled() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
