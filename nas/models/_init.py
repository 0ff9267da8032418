"""Initialisation helpers shared by the blocks: GPT-2 style linears and the Mamba dt range."""

from __future__ import annotations

import math

import torch
from torch import nn

INIT_STD = 0.02  # GPT-2 / mamba_ssm's std for linears and the embedding
DT_FLOOR = 1e-4  # smallest initial step, as in mamba_ssm


def linear(d_in: int, d_out: int, std: float = INIT_STD) -> nn.Linear:
    """A bias-free Linear with N(0, std) weights."""
    layer = nn.Linear(d_in, d_out, bias=False)
    nn.init.normal_(layer.weight, std=std)
    return layer


def residual_std(n_blocks: int) -> float:
    """Std of the projections that write into the residual stream: 0.02 / sqrt(n_blocks), so
    the stream's variance at init does not grow with depth (GPT-2, mamba_ssm)."""
    return INIT_STD / math.sqrt(n_blocks)


def dt_bias_init(n: int, dt_min: float, dt_max: float) -> torch.Tensor:
    """Biases b with softplus(b) = dt, dt log-uniform in [dt_min, dt_max]: each channel (or
    head) starts with its own time scale."""
    log_dt = torch.rand(n) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
    dt = torch.exp(log_dt).clamp(min=DT_FLOOR)
    return dt + torch.log(-torch.expm1(-dt))  # inverse of softplus
