"""Mamba-2 SSD (state-space duality), with the semantics of ``mamba_ssm``'s
``mamba_chunk_scan_combined``.

Per head h, with a scalar decay and a (p, n) state::

    dt  = softplus(dt + dt_bias)                # bias and softplus when asked
    S_t = exp(dt_t * A[h]) * S_{t-1} + dt_t * x_t B_t^T
    y_t = S_t C_t + D[h] * x_t                  # D is (h,) or (h, p)
    y_t = y_t * silu(z_t)                       # when z is given

B and C carry g groups; head h reads group h // (h_total // g). ``initial_states`` seeds S_0 and
``return_final_states`` also returns S_L. Backends: ``"triton"`` (CUDA, or CPU under
``TRITON_INTERPRET=1``), ``"cpu"`` (fused C, CPU tensors), ``"torch"`` (chunked, autograd, any
device), ``"reference"`` (a plain loop), ``"auto"`` (triton on CUDA, cpu on CPU where a C
compiler is found, else torch; ``NAS_KERNEL_BACKEND`` forces one).

Example:
    >>> import torch
    >>> from kernels import ssd
    >>> b, L, h, p, g, n = 2, 37, 4, 8, 1, 16
    >>> x, dt = torch.randn(b, L, h, p), torch.rand(b, L, h)
    >>> A = -torch.rand(h)
    >>> B, C = torch.randn(b, L, g, n), torch.randn(b, L, g, n)
    >>> y, final = ssd(x, dt, A, B, C, chunk_size=16, return_final_states=True)
    >>> y.shape, final.shape
    (torch.Size([2, 37, 4, 8]), torch.Size([2, 4, 8, 16]))
"""

from __future__ import annotations

import torch

from kernels._backend import resolve_backend
from kernels._checks import check_tensor
from kernels.ssd._common import prepare_dt
from kernels.ssd.chunk import ssd_chunk
from kernels.ssd.cpu import ssd_cpu
from kernels.ssd.naive import ssd_naive
from kernels.ssd.step import ssd_step_torch

__all__ = ["ssd", "ssd_step"]


def ssd(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    chunk_size: int,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    dt_bias: torch.Tensor | None = None,
    dt_softplus: bool = False,
    initial_states: torch.Tensor | None = None,
    return_final_states: bool = False,
    *,
    backend: str = "auto",
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Run the SSD scan over the whole sequence.

    Shapes: x, z (b, L, h, p); dt (b, L, h); A (h,); B, C (b, L, g, n) with h % g == 0;
    D (h,) or (h, p); dt_bias (h,); initial_states (b, h, p, n). ``chunk_size`` is the length of
    the blocks the chunked backends cut the sequence into (any L works; the torch backend
    caps it at 64, where its CPU cost is lowest; the result does not depend on it). Returns y (b, L, h, p)
    in x's dtype, and with ``return_final_states=True`` also the state after the last step,
    (b, h, p, n) in fp32.

    A is a decay rate and must be <= 0 (Mamba-2 keeps A = -exp(A_log)): the chunked backends
    clamp each step's dt * A at 0, so that no exponent they take is positive.
    """
    op = "ssd"
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"{op}: x must be a tensor of shape (b, L, h, p), got {_shape_of(x)}")
    batch, length, heads, headdim = x.shape
    device = x.device
    check_tensor(op, "x", x, x.shape, "(b, L, h, p)", device)
    check_tensor(op, "dt", dt, (batch, length, heads), "(b, L, h)", device)
    check_tensor(op, "A", A, (heads,), "(h,)", device)
    _, nstate = _groups(op, B, C, (batch, length), "b, L", heads, device)
    _check_D(op, D, heads, headdim, device)
    check_tensor(op, "z", z, x.shape, "(b, L, h, p)", device, optional=True)
    check_tensor(op, "dt_bias", dt_bias, (heads,), "(h,)", device, optional=True)
    check_tensor(
        op,
        "initial_states",
        initial_states,
        (batch, heads, headdim, nstate),
        "(b, h, p, n)",
        device,
        optional=True,
    )
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"{op}: chunk_size must be a positive int, got {chunk_size!r}")

    chosen = resolve_backend(backend, device)
    if length == 0:  # nothing to scan: the loop of the reference handles it
        chosen = "reference"
    if chosen == "triton":  # imported here: Triton is installed on Linux only
        from kernels.ssd.triton import ssd_triton

        y, final = ssd_triton(
            x, dt, A, B, C, chunk_size, D, z, dt_bias, dt_softplus, initial_states
        )
    else:
        dt = prepare_dt(dt, dt_bias, dt_softplus)
        if chosen == "reference":
            y, final = ssd_naive(x, dt, A, B, C, D, z, initial_states)
        elif chosen == "cpu":
            y, final = ssd_cpu(x, dt, A, B, C, D, z, initial_states)
        else:
            y, final = ssd_chunk(x, dt, A, B, C, chunk_size, D, z, initial_states)
    y = y.to(x.dtype)
    return (y, final) if return_final_states else y


def ssd_step(
    state: torch.Tensor,
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    dt_bias: torch.Tensor | None = None,
    dt_softplus: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advance the SSD recurrence by one token, for decoding.

    Shapes: state (b, h, p, n); x, z (b, h, p); dt (b, h); A (h,); B, C (b, g, n);
    D (h,) or (h, p); dt_bias (h,). Returns (y (b, h, p) in x's dtype, new_state in state's
    dtype); the update runs in fp32. Stepping L times from ``initial_states`` gives the outputs
    and final state of :func:`ssd` over those L tokens.

    Example:
        >>> import torch
        >>> from kernels import ssd_step
        >>> b, h, p, g, n = 2, 4, 8, 1, 16
        >>> state = torch.zeros(b, h, p, n)
        >>> y, state = ssd_step(state, torch.randn(b, h, p), torch.rand(b, h), -torch.rand(h),
        ...                     torch.randn(b, g, n), torch.randn(b, g, n))
        >>> y.shape, state.shape
        (torch.Size([2, 4, 8]), torch.Size([2, 4, 8, 16]))
    """
    op = "ssd_step"
    if not isinstance(state, torch.Tensor) or state.dim() != 4:
        raise ValueError(
            f"{op}: state must be a tensor of shape (b, h, p, n), got {_shape_of(state)}"
        )
    batch, heads, headdim, nstate = state.shape
    device = state.device
    check_tensor(op, "state", state, state.shape, "(b, h, p, n)", device)
    check_tensor(op, "x", x, (batch, heads, headdim), "(b, h, p)", device)
    check_tensor(op, "dt", dt, (batch, heads), "(b, h)", device)
    check_tensor(op, "A", A, (heads,), "(h,)", device)
    _groups(op, B, C, (batch,), "b", heads, device, nstate)
    _check_D(op, D, heads, headdim, device)
    check_tensor(op, "z", z, (batch, heads, headdim), "(b, h, p)", device, optional=True)
    check_tensor(op, "dt_bias", dt_bias, (heads,), "(h,)", device, optional=True)
    return ssd_step_torch(state, x, dt, A, B, C, D, z, dt_bias, bool(dt_softplus))


def _groups(
    op: str,
    B: object,
    C: object,
    lead: tuple[int, ...],
    lead_name: str,
    heads: int,
    device: torch.device,
    nstate: int | None = None,
) -> tuple[int, int]:
    """(g, n) of B, checked as (*lead, g, n) with g dividing h (and n = ``nstate`` when
    given), and C checked to match it."""
    dims = f"({lead_name}, g, n)"
    if not isinstance(B, torch.Tensor) or B.dim() != len(lead) + 2:
        raise ValueError(f"{op}: B must be a tensor of shape {dims}, got {_shape_of(B)}")
    groups = B.shape[-2]
    nstate = B.shape[-1] if nstate is None else nstate
    if groups == 0 or heads % groups:
        raise ValueError(
            f"{op}: B has g = {groups} groups, which must divide h = {heads}; expected {dims}"
        )
    check_tensor(op, "B", B, (*lead, groups, nstate), dims, device)
    check_tensor(op, "C", C, (*lead, groups, nstate), dims, device)  # type: ignore[arg-type]
    return groups, nstate


def _check_D(
    op: str, D: torch.Tensor | None, heads: int, headdim: int, device: torch.device
) -> None:
    if isinstance(D, torch.Tensor) and D.dim() == 2:
        check_tensor(op, "D", D, (heads, headdim), "(h,) or (h, p)", device)
    else:
        check_tensor(op, "D", D, (heads,), "(h,) or (h, p)", device, optional=True)


def _shape_of(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"shape {tuple(value.shape)}"
    return type(value).__name__
