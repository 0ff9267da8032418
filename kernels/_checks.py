"""Argument checks shared by the ops: each error names the argument and the expected shape."""

from __future__ import annotations

from collections.abc import Sequence

import torch

FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def check_tensor(
    op: str,
    name: str,
    tensor: torch.Tensor | None,
    shape: Sequence[int],
    dims: str,
    device: torch.device,
    *,
    optional: bool = False,
) -> None:
    """Raise ValueError unless ``tensor`` is a float tensor of ``shape`` on ``device``.

    ``dims`` spells the expected shape for the message, e.g. ``"(batch, dim, L)"``.
    """
    if tensor is None:
        if optional:
            return
        raise ValueError(f"{op}: {name} is required, expected shape {dims}")
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(
            f"{op}: {name} must be a torch.Tensor of shape {dims}, got {type(tensor).__name__}"
        )
    if tuple(tensor.shape) != tuple(shape):
        raise ValueError(
            f"{op}: {name} has shape {tuple(tensor.shape)}, expected {dims} = {tuple(shape)}"
        )
    if tensor.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{op}: {name} has dtype {tensor.dtype}, expected float32, float16 or bfloat16"
        )
    if tensor.device != device:
        raise ValueError(
            f"{op}: {name} is on {tensor.device}, expected {device} like the other inputs"
        )
