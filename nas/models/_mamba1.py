"""Mamba-1 mixer (Gu & Dao, 2023), as mamba_ssm's ``Mamba`` without its fused fast path.

in_proj -> x, z; x -> causal depthwise conv -> SiLU -> x_proj -> (dt, B, C); dt -> dt_proj;
selective scan over x with input-dependent dt, B, C, gated by SiLU(z); out_proj.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kernels import causal_conv1d, selective_scan
from nas.arch import SSMSpec
from nas.models._init import dt_bias_init, linear


class Mamba1(nn.Module):
    def __init__(self, d_model: int, ssm: SSMSpec, *, out_std: float, backend: str) -> None:
        super().__init__()
        assert ssm.dt_rank is not None, "ArchSpec fills dt_rank for mamba1"
        d_inner = ssm.d_inner(d_model)
        self.d_state, self.dt_rank, self.backend = ssm.d_state, ssm.dt_rank, backend
        self.in_proj = linear(d_model, 2 * d_inner)
        # depthwise over time, causal (kernels.causal_conv1d); a Conv1d holds its parameters
        self.conv1d = nn.Conv1d(d_inner, d_inner, ssm.d_conv, groups=d_inner, bias=True)
        self.x_proj = linear(d_inner, ssm.dt_rank + 2 * ssm.d_state)
        self.dt_proj = nn.Linear(ssm.dt_rank, d_inner, bias=True)
        bound = ssm.dt_rank**-0.5  # variance-preserving for a rank-R projection (mamba_ssm)
        nn.init.uniform_(self.dt_proj.weight, -bound, bound)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt_bias_init(d_inner, ssm.dt_min, ssm.dt_max))
        # S4D-real init: A[:, n] = -(n + 1), kept as log so that A stays negative
        states = torch.arange(1, ssm.d_state + 1, dtype=torch.float32)
        self.A_log = nn.Parameter(torch.log(states).repeat(d_inner, 1))
        self.D = nn.Parameter(torch.ones(d_inner))  # skip connection u -> y
        self.A_log._no_weight_decay = True  # type: ignore[attr-defined]
        self.D._no_weight_decay = True  # type: ignore[attr-defined]
        self.out_proj = linear(d_inner, d_model, std=out_std)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(batch, L, d_model) -> (batch, L, d_model)."""
        x, z = self.in_proj(hidden).chunk(2, dim=-1)
        # causal depthwise conv + SiLU over time, (batch, L, d_inner) in and out
        conv = self.conv1d
        x = causal_conv1d(x, conv.weight[:, 0], conv.bias, silu=True, backend=self.backend)
        dt, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.linear(dt, self.dt_proj.weight)  # its bias goes into the scan, before softplus
        # the kernel's layout is channel-first, (batch, channels, L): transposed views, no copies
        y = selective_scan(
            x.transpose(1, 2),
            dt.transpose(1, 2),
            -torch.exp(self.A_log.float()),
            B.transpose(1, 2),
            C.transpose(1, 2),
            D=self.D.float(),
            z=z.transpose(1, 2),
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
            backend=self.backend,
        )
        return self.out_proj(y.transpose(1, 2))
