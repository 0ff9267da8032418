"""Mamba-1 selective scan, with the semantics of ``mamba_ssm.selective_scan_fn``.

For each channel d and state index n::

    delta = softplus(delta + delta_bias)          # bias and softplus when asked
    h_t   = exp(delta_t * A[d, n]) * h_{t-1} + delta_t * B_t[n] * u_t
    y_t   = sum_n C_t[n] * h_t[n] + D[d] * u_t
    y_t   = y_t * silu(z_t)                       # when z is given

B and C may be grouped, (batch, G, N, L): channel d then reads group d // (dim // G).
Backends: ``"triton"`` (CUDA, or CPU under ``TRITON_INTERPRET=1``), ``"cpu"`` (fused C, CPU
tensors), ``"torch"`` (chunked, autograd, any device), ``"reference"`` (a plain loop),
``"auto"`` (triton on CUDA, cpu on CPU where a C compiler is found, else torch;
``NAS_KERNEL_BACKEND`` forces one).

Example:
    >>> import torch
    >>> from kernels import selective_scan
    >>> b, d, n, L = 2, 8, 4, 37
    >>> u, delta = torch.randn(b, d, L), torch.rand(b, d, L)
    >>> A = -torch.rand(d, n)
    >>> B, C = torch.randn(b, n, L), torch.randn(b, n, L)
    >>> y, last = selective_scan(u, delta, A, B, C, return_last_state=True)
    >>> y.shape, last.shape
    (torch.Size([2, 8, 37]), torch.Size([2, 8, 4]))
"""

from __future__ import annotations

import torch

from kernels._backend import resolve_backend
from kernels._checks import check_tensor
from kernels.selective_scan.chunk import selective_scan_chunk
from kernels.selective_scan.cpu import selective_scan_cpu
from kernels.selective_scan.naive import selective_scan_naive
from kernels.selective_scan.step import selective_scan_step_torch

__all__ = ["selective_scan", "selective_scan_step"]


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
    *,
    backend: str = "auto",
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Run the selective scan over the whole sequence.

    Shapes: u, delta, z (batch, dim, L); A (dim, N); B, C (batch, N, L) or (batch, G, N, L);
    D, delta_bias (dim,). Returns y (batch, dim, L) in u's dtype, and with
    ``return_last_state=True`` also the state after the last step, (batch, dim, N) in fp32.
    """
    op = "selective_scan"
    if not isinstance(u, torch.Tensor) or u.dim() != 3:
        raise ValueError(f"{op}: u must be a tensor of shape (batch, dim, L), got {_shape_of(u)}")
    batch, dim, length = u.shape
    device = u.device
    check_tensor(op, "u", u, (batch, dim, length), "(batch, dim, L)", device)
    check_tensor(op, "delta", delta, (batch, dim, length), "(batch, dim, L)", device)
    if not isinstance(A, torch.Tensor) or A.dim() != 2:
        raise ValueError(
            f"{op}: A must be a tensor of shape (dim, N) = ({dim}, N), got {_shape_of(A)}"
        )
    nstate = A.shape[1]
    check_tensor(op, "A", A, (dim, nstate), "(dim, N)", device)
    B = _grouped(op, "B", B, batch, dim, nstate, (length,), "L", device)
    C = _grouped(op, "C", C, batch, dim, nstate, (length,), "L", device)
    if B.shape[1] != C.shape[1]:
        raise ValueError(f"{op}: B has {B.shape[1]} groups but C has {C.shape[1]}; they must match")
    check_tensor(op, "D", D, (dim,), "(dim,)", device, optional=True)
    check_tensor(op, "z", z, (batch, dim, length), "(batch, dim, L)", device, optional=True)
    check_tensor(op, "delta_bias", delta_bias, (dim,), "(dim,)", device, optional=True)

    args = (u, delta, A, B, C, D, z, delta_bias, bool(delta_softplus))
    chosen = resolve_backend(backend, device)
    if chosen == "reference":
        y, last = selective_scan_naive(*args)
    elif chosen == "torch":
        y, last = selective_scan_chunk(*args)
    elif chosen == "cpu":
        y, last = selective_scan_cpu(*args)
    else:  # imported here: Triton is installed on Linux only
        from kernels.selective_scan.fused import selective_scan_triton

        y, last = selective_scan_triton(*args)
    y = y.to(u.dtype)
    return (y, last) if return_last_state else y


def selective_scan_step(
    state: torch.Tensor,
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
    """Advance the scan by one token, for decoding.

    Shapes: state (batch, dim, N); u, delta, z (batch, dim); A (dim, N); B, C (batch, N) or
    (batch, G, N); D, delta_bias (dim,). Returns (y (batch, dim) in u's dtype, new_state in
    state's dtype); the update itself runs in fp32. Stepping L times from a zero state gives
    the same outputs and last state as :func:`selective_scan` over those L tokens.

    Example:
        >>> import torch
        >>> from kernels import selective_scan_step
        >>> b, d, n = 2, 8, 4
        >>> state = torch.zeros(b, d, n)
        >>> y, state = selective_scan_step(state, torch.randn(b, d), torch.rand(b, d),
        ...     -torch.rand(d, n), torch.randn(b, n), torch.randn(b, n))
        >>> y.shape, state.shape
        (torch.Size([2, 8]), torch.Size([2, 8, 4]))
    """
    op = "selective_scan_step"
    if not isinstance(state, torch.Tensor) or state.dim() != 3:
        raise ValueError(
            f"{op}: state must be a tensor of shape (batch, dim, N), got {_shape_of(state)}"
        )
    batch, dim, nstate = state.shape
    device = state.device
    check_tensor(op, "state", state, (batch, dim, nstate), "(batch, dim, N)", device)
    check_tensor(op, "u", u, (batch, dim), "(batch, dim)", device)
    check_tensor(op, "delta", delta, (batch, dim), "(batch, dim)", device)
    check_tensor(op, "A", A, (dim, nstate), "(dim, N)", device)
    B = _grouped(op, "B", B, batch, dim, nstate, (), "", device)
    C = _grouped(op, "C", C, batch, dim, nstate, (), "", device)
    if B.shape[1] != C.shape[1]:
        raise ValueError(f"{op}: B has {B.shape[1]} groups but C has {C.shape[1]}; they must match")
    check_tensor(op, "D", D, (dim,), "(dim,)", device, optional=True)
    check_tensor(op, "z", z, (batch, dim), "(batch, dim)", device, optional=True)
    check_tensor(op, "delta_bias", delta_bias, (dim,), "(dim,)", device, optional=True)
    return selective_scan_step_torch(
        state, u, delta, A, B, C, D, z, delta_bias, bool(delta_softplus)
    )


def _grouped(
    op: str,
    name: str,
    tensor: object,
    batch: int,
    dim: int,
    nstate: int,
    tail: tuple[int, ...],
    tail_name: str,
    device: torch.device,
) -> torch.Tensor:
    """``tensor`` checked and viewed as (batch, G, N, *tail); ungrouped inputs get G = 1."""
    suffix = f", {tail_name}" if tail_name else ""
    plain = f"(batch, N{suffix})"
    grouped = f"(batch, G, N{suffix})"
    if isinstance(tensor, torch.Tensor) and tensor.dim() == 3 + len(tail):
        groups = tensor.shape[1]
        if groups == 0 or dim % groups:
            raise ValueError(
                f"{op}: {name} has {groups} groups, which must divide dim = {dim}; "
                f"expected {grouped} with dim % G == 0"
            )
        check_tensor(
            op, name, tensor, (batch, groups, nstate, *tail), f"{plain} or {grouped}", device
        )
        return tensor
    check_tensor(op, name, tensor, (batch, nstate, *tail), f"{plain} or {grouped}", device)  # type: ignore[arg-type]
    return tensor.unsqueeze(1)  # type: ignore[union-attr]


def _shape_of(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"shape {tuple(value.shape)}"
    return type(value).__name__
