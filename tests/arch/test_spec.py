"""ArchSpec: canonical values, stable hashes, JSON round trips, and invalid dimensions."""

from __future__ import annotations

import json

import pytest

from nas.arch import ArchSpec, AttentionSpec, MLPSpec, SSMSpec


def test_unused_settings_do_not_split_equal_architectures():
    # attention and MLP settings cannot matter in a pure-SSM layout without F blocks
    plain = ArchSpec(layout="MMMM")
    other = ArchSpec(
        layout="MMMM", attention=AttentionSpec(n_heads=8, n_kv_heads=2), mlp=MLPSpec(d_ff=999)
    )
    assert plain == other and plain.arch_hash == other.arch_hash
    assert plain.attention is None and plain.mlp is None
    # SSM settings in a pure-attention layout
    assert (
        ArchSpec(layout="AA", ssm=SSMSpec(d_state=64)).arch_hash == ArchSpec(layout="AA").arch_hash
    )


def test_kind_specific_ssm_settings_are_dropped():
    a = ArchSpec(layout="MA", ssm=SSMSpec(kind="mamba1", headdim=8, ngroups=2))
    b = ArchSpec(layout="MA", ssm=SSMSpec(kind="mamba1", headdim=32, ngroups=1))
    assert a.arch_hash == b.arch_hash and a.ssm.headdim is None
    # dt_rank None for mamba1 means ceil(d_model / 16): spelled out or not, the same value
    assert a.ssm.dt_rank == 4
    assert ArchSpec(layout="MA", ssm=SSMSpec(kind="mamba1", dt_rank=4)).arch_hash == a.arch_hash
    # and Mamba-2 ignores dt_rank
    assert ArchSpec(layout="M", ssm=SSMSpec(dt_rank=9)).arch_hash == ArchSpec(layout="M").arch_hash


def test_rope_theta_without_rope_is_ignored():
    a = ArchSpec(layout="A", attention=AttentionSpec(rope=False, rope_theta=5e5))
    b = ArchSpec(layout="A", attention=AttentionSpec(rope=False))
    assert a.arch_hash == b.arch_hash
    c = ArchSpec(layout="A", attention=AttentionSpec(rope=True, rope_theta=5e5))
    assert c.arch_hash != ArchSpec(layout="A").arch_hash


def test_pattern_spellings_hash_equal():
    spellings = ["MFMFMAF", "M-M-M*-", "(MF)x2 MAF", "(M-)x2M*-"]
    assert len({ArchSpec(layout=s).arch_hash for s in spellings}) == 1


def test_every_dimension_changes_the_hash():
    base = ArchSpec(layout="MFAF")
    variants = [
        ArchSpec(layout="MFAF", d_model=128),
        ArchSpec(layout="MFAF", vocab_size=512),
        ArchSpec(layout="MFAF", tie_embeddings=False),
        ArchSpec(layout="MFAF", ssm=SSMSpec(d_state=32)),
        ArchSpec(layout="MFAF", ssm=SSMSpec(kind="mamba1")),
        ArchSpec(layout="MFAF", attention=AttentionSpec(n_kv_heads=2)),
        ArchSpec(layout="MFAF", attention=AttentionSpec(window=64)),
        ArchSpec(layout="MFAF", mlp=MLPSpec(kind="gelu")),
        ArchSpec(layout="AFMF"),
    ]
    hashes = {v.arch_hash for v in variants} | {base.arch_hash}
    assert len(hashes) == len(variants) + 1


def test_hash_is_pinned():
    # the hash keys evaluations in databases: it must not change across versions or runs
    spec = ArchSpec(layout="MMMA", d_model=64)
    assert spec.to_json() == (
        '{"attention":{"n_heads":4,"n_kv_heads":4,"rope":true,"rope_theta":10000.0,"window":null},'
        '"d_model":64,"layout":"MMMA","mlp":null,"ssm":{"d_conv":4,"d_state":16,"dt_max":0.1,'
        '"dt_min":0.001,"dt_rank":null,"expand":2,"headdim":16,"kind":"mamba2","ngroups":1},'
        '"tie_embeddings":true,"vocab_size":256}'
    )
    assert spec.arch_hash == "5a8d968425f826b5"


@pytest.mark.parametrize(
    "spec",
    [
        ArchSpec(layout="MMMA"),
        ArchSpec(
            layout="AFAF", tie_embeddings=False, vocab_size=1000, mlp=MLPSpec(kind="gelu", d_ff=300)
        ),
        ArchSpec(
            layout="MMFMA",
            ssm=SSMSpec(kind="mamba1", d_state=4, dt_min=1e-4),
            d_model=48,
            attention=AttentionSpec(n_heads=6, n_kv_heads=3, window=128, rope=False),
        ),
    ],
)
def test_json_round_trip(spec):
    again = ArchSpec.from_json(spec.to_json())
    assert again == spec and again.arch_hash == spec.arch_hash
    assert ArchSpec.from_dict(json.loads(spec.to_json())) == spec
    assert ArchSpec.parse(spec.to_json()) == spec


def test_parse_pattern_and_overrides():
    spec = ArchSpec.parse("(MMMA)x2", d_model=32)
    assert (spec.layout, spec.d_model, spec.n_layers, spec.ratio, spec.family) == (
        "MMMAMMMA",
        32,
        8,
        "3:1",
        "hybrid",
    )
    assert ArchSpec.parse(spec.to_json(), d_model=64).d_model == 64
    assert spec.attention_fraction == 0.25
    assert ArchSpec.parse("MM").family == "ssm" and ArchSpec.parse("AF").family == "attention"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ArchSpec(layout="AF", d_model=30), r"n_heads \(4\) must divide d_model \(30\)"),
        (
            lambda: ArchSpec(layout="AF", d_model=36, attention=AttentionSpec(n_heads=4)),
            r"attention.rope needs an even head_dim, got d_model / n_heads = 9",
        ),
        (lambda: AttentionSpec(n_heads=4, n_kv_heads=3), "must divide n_heads"),
        (lambda: ArchSpec(layout="M", ssm=SSMSpec(headdim=48)), "must divide d_inner"),
        (lambda: ArchSpec(layout="M", ssm=SSMSpec(ngroups=3)), "must divide the 8 Mamba-2 heads"),
        (lambda: ArchSpec(layout="M", ssm=None), "has M blocks but no ssm settings"),
        (lambda: ArchSpec(layout="MQ"), "unexpected 'Q'"),
        (lambda: ArchSpec(layout="M", d_model=0), "d_model must be a positive integer"),
        (lambda: SSMSpec(dt_min=0.2, dt_max=0.1), "dt_min <= dt_max"),
        (lambda: SSMSpec(kind="mamba3"), "ssm.kind must be"),
        (lambda: AttentionSpec(window=0), "window must be >= 1"),
        (lambda: MLPSpec(kind="relu"), "mlp.kind must be"),
    ],
)
def test_invalid_specs(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown ArchSpec keys: depth"):
        ArchSpec.from_dict({"layout": "MA", "depth": 3})
    with pytest.raises(ValueError, match="needs a 'layout'"):
        ArchSpec.from_dict({"d_model": 3})
