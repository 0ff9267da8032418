"""The four reference architectures whose figures the compute tests work out by hand."""

from __future__ import annotations

import pytest

from nas.arch import ArchSpec, AttentionSpec, MLPSpec, SSMSpec


@pytest.fixture
def transformer() -> ArchSpec:
    """2 layers, d=32, V=100, 4 heads of 8 with 2 KV heads, SwiGLU d_ff=64, untied head."""
    return ArchSpec(
        layout="AFAF",
        d_model=32,
        vocab_size=100,
        tie_embeddings=False,
        attention=AttentionSpec(n_heads=4, n_kv_heads=2),
        mlp=MLPSpec(kind="swiglu", d_ff=64),
    )


@pytest.fixture
def mamba1() -> ArchSpec:
    """2 Mamba-1 blocks, d=32, V=100, N=8, expand 2 (Di=64), d_conv 4, dt_rank ceil(32/16)=2, tied."""
    return ArchSpec(
        layout="MM",
        d_model=32,
        vocab_size=100,
        ssm=SSMSpec(kind="mamba1", d_state=8, expand=2, d_conv=4),
    )


@pytest.fixture
def mamba2() -> ArchSpec:
    """2 Mamba-2 blocks, d=32, V=100, N=8, Di=64, headdim 16 (H=4), 2 groups, untied."""
    return ArchSpec(
        layout="MM",
        d_model=32,
        vocab_size=100,
        tie_embeddings=False,
        ssm=SSMSpec(kind="mamba2", d_state=8, expand=2, d_conv=4, headdim=16, ngroups=2),
    )


@pytest.fixture
def hybrid() -> ArchSpec:
    """Mamba-2 (N=4, H=4, G=1), windowed attention (4 heads, W=16) and GELU MLPs, d=32, V=64, tied."""
    return ArchSpec(
        layout="MFMFAF",
        d_model=32,
        vocab_size=64,
        ssm=SSMSpec(kind="mamba2", d_state=4, expand=2, d_conv=4, headdim=16, ngroups=1),
        attention=AttentionSpec(n_heads=4, n_kv_heads=4, window=16),
        mlp=MLPSpec(kind="gelu", d_ff=64),
    )
