"""Every spec builds a model with exactly the parameters nas.compute counts, and runs."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nas.arch import ArchSpec, AttentionSpec, MLPSpec, SSMSpec
from nas.compute import non_embedding_params, param_count
from nas.models import build_model


def numel(arch: ArchSpec) -> int:
    return sum(p.numel() for p in build_model(arch, backend="torch").parameters())


GRID = [
    ArchSpec(layout="A", d_model=16, vocab_size=11),
    ArchSpec(layout="AFAF", d_model=48, attention=AttentionSpec(n_heads=6, n_kv_heads=2)),
    ArchSpec(layout="AA", d_model=32, attention=AttentionSpec(n_heads=8, n_kv_heads=1, window=8)),
    ArchSpec(layout="AF", d_model=32, attention=AttentionSpec(rope=False), mlp=MLPSpec("gelu", 96)),
    ArchSpec(layout="MMM", d_model=40, ssm=SSMSpec(kind="mamba1", d_state=4, expand=3)),
    ArchSpec(layout="MF", d_model=24, ssm=SSMSpec(kind="mamba1", dt_rank=5, d_conv=2)),
    ArchSpec(layout="MM", d_model=32, ssm=SSMSpec(kind="mamba2", headdim=8, ngroups=4)),
    ArchSpec(layout="MFMFAF", d_model=64, vocab_size=300, tie_embeddings=False),
    ArchSpec(
        layout="MMMAMMMA",
        d_model=32,
        tie_embeddings=False,
        ssm=SSMSpec(kind="mamba1", d_state=32),
        attention=AttentionSpec(n_heads=4, n_kv_heads=2, window=4),
        mlp=None,
    ),
]


@pytest.mark.parametrize("arch", GRID, ids=[a.layout for a in GRID])
def test_grid(arch: ArchSpec) -> None:
    assert numel(arch) == param_count(arch)


def test_non_embedding_params_leave_out_the_vocabulary_matrices() -> None:
    for tied in (True, False):
        arch = ArchSpec(layout="MA", d_model=32, vocab_size=50, tie_embeddings=tied)
        model = build_model(arch, backend="torch")
        body = sum(
            p.numel() for name, p in model.named_parameters() if not name.startswith("embedding")
        )
        head = 0 if tied else model.lm_head.weight.numel()
        assert non_embedding_params(arch) == body - head


def _divisors(n: int) -> list[int]:
    return [k for k in range(1, n + 1) if n % k == 0]


@st.composite
def archspecs(draw: st.DrawFn) -> ArchSpec:
    """Valid specs over every setting a model can vary in: both SSM kinds, GQA, windows, RoPE,
    tying, MLP kinds and free layouts."""
    layout = draw(
        st.text(alphabet="MAF", min_size=1, max_size=6).filter(lambda s: set(s) & {"M", "A"})
    )
    d_model = draw(st.sampled_from([8, 12, 16, 24, 32, 48, 64]))
    kind = draw(st.sampled_from(["mamba1", "mamba2"]))
    expand = draw(st.integers(1, 3))
    d_inner = expand * d_model
    headdim = draw(st.sampled_from(_divisors(d_inner)))
    ssm = SSMSpec(
        kind=kind,
        d_state=draw(st.integers(1, 24)),
        expand=expand,
        d_conv=draw(st.integers(1, 5)),
        dt_rank=draw(st.one_of(st.none(), st.integers(1, 8))),
        headdim=headdim,
        ngroups=draw(st.sampled_from(_divisors(d_inner // headdim))),
    )
    rope = draw(st.booleans())
    heads = [h for h in _divisors(d_model) if not rope or (d_model // h) % 2 == 0]
    n_heads = draw(st.sampled_from(heads))
    attention = AttentionSpec(
        n_heads=n_heads,
        n_kv_heads=draw(st.sampled_from(_divisors(n_heads))),
        window=draw(st.one_of(st.none(), st.integers(1, 64))),
        rope=rope,
    )
    mlp = MLPSpec(kind=draw(st.sampled_from(["swiglu", "gelu"])), d_ff=draw(st.integers(1, 200)))
    return ArchSpec(
        layout=layout,
        d_model=d_model,
        vocab_size=draw(st.integers(2, 300)),
        tie_embeddings=draw(st.booleans()),
        ssm=ssm,
        attention=attention,
        mlp=mlp,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(archspecs())
def test_sampled_specs(arch: ArchSpec) -> None:
    assert numel(arch) == param_count(arch)


@settings(max_examples=25, deadline=None)
@given(archspecs())
def test_sampled_specs_run(arch: ArchSpec) -> None:
    torch.manual_seed(0)
    model = build_model(arch, backend="torch")
    logits = model(torch.randint(0, arch.vocab_size, (2, 9)))
    assert logits.shape == (2, 9, arch.vocab_size)
    assert torch.isfinite(logits).all()
