"""Mamba-2 mixer (Dao & Gu, 2024), as mamba_ssm's ``Mamba2`` without its fused fast path.

in_proj -> z, xBC, dt; xBC -> causal depthwise conv -> SiLU -> x, B, C (B and C shared by
the heads of a group); SSD scan with a scalar decay per head; gated RMSNorm norm(y * SiLU(z));
out_proj.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kernels import causal_conv1d, ssd
from nas.arch import SSMSpec
from nas.models._init import dt_bias_init, linear

CHUNK_SIZE = 64  # SSD chunk length: an implementation setting, not part of the architecture
A_INIT_RANGE = (1.0, 16.0)  # -A per head drawn uniformly here, as in mamba_ssm


class Mamba2(nn.Module):
    def __init__(self, d_model: int, ssm: SSMSpec, *, out_std: float, backend: str) -> None:
        super().__init__()
        assert ssm.headdim is not None and ssm.ngroups is not None, "ArchSpec checks mamba2"
        self.d_inner = ssm.d_inner(d_model)
        self.headdim, self.ngroups, self.d_state = ssm.headdim, ssm.ngroups, ssm.d_state
        self.nheads = ssm.n_heads(d_model)
        self.backend = backend
        conv_channels = self.d_inner + 2 * self.ngroups * self.d_state
        self.in_proj = linear(d_model, self.d_inner + conv_channels + self.nheads)  # z, xBC, dt
        # depthwise over time, causal (kernels.causal_conv1d); a Conv1d holds its parameters
        self.conv1d = nn.Conv1d(conv_channels, conv_channels, ssm.d_conv, groups=conv_channels)
        self.dt_bias = nn.Parameter(dt_bias_init(self.nheads, ssm.dt_min, ssm.dt_max))
        self.A_log = nn.Parameter(torch.empty(self.nheads).uniform_(*A_INIT_RANGE).log())
        self.D = nn.Parameter(torch.ones(self.nheads))  # skip connection x -> y
        for parameter in (self.dt_bias, self.A_log, self.D):
            parameter._no_weight_decay = True  # type: ignore[attr-defined]
        self.norm = GatedRMSNorm(self.d_inner, groups=self.ngroups)
        self.out_proj = linear(self.d_inner, d_model, std=out_std)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(batch, L, d_model) -> (batch, L, d_model)."""
        groups_width = self.ngroups * self.d_state
        z, xBC, dt = self.in_proj(hidden).split(
            [self.d_inner, self.d_inner + 2 * groups_width, self.nheads], dim=-1
        )
        conv = self.conv1d  # causal depthwise conv + SiLU over time, (batch, L, channels)
        xBC = causal_conv1d(xBC, conv.weight[:, 0], conv.bias, silu=True, backend=self.backend)
        x, B, C = xBC.split([self.d_inner, groups_width, groups_width], dim=-1)
        y = ssd(
            x.unflatten(-1, (self.nheads, self.headdim)),
            dt,
            -torch.exp(self.A_log.float()),
            B.unflatten(-1, (self.ngroups, self.d_state)),
            C.unflatten(-1, (self.ngroups, self.d_state)),
            CHUNK_SIZE,
            D=self.D.float(),
            dt_bias=self.dt_bias.float(),
            dt_softplus=True,
            backend=self.backend,
        )
        return self.out_proj(self.norm(y.flatten(-2), z))


class GatedRMSNorm(nn.Module):
    """RMSNorm(y * SiLU(z)) * weight, normalised within each of ``groups`` channel groups, so
    that the norm does not mix groups (mamba_ssm's RMSNormGated, norm_before_gate=False)."""

    def __init__(self, dim: int, groups: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.groups, self.eps = groups, eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        gated = (y * F.silu(z)).unflatten(-1, (self.groups, -1))
        normed = F.rms_norm(gated, (gated.shape[-1],), eps=self.eps)
        return normed.flatten(-2) * self.weight
