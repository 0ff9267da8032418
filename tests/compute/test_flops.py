"""FLOPs: the Kaplan rule for a transformer, hand counts for the scans, and the identities
that tie training, prefill and decode together."""

from __future__ import annotations

from dataclasses import replace

import pytest

from nas.arch import ArchSpec, AttentionSpec
from nas.compute import (
    decode_flops_per_token,
    dense_weights,
    estimate,
    param_count,
    prefill_flops,
    train_flops_per_token,
)


def test_transformer_follows_kaplan(transformer: ArchSpec) -> None:
    """Kaplan et al. (2020), Table 1: C = 6N + 6 * n_layer * n_ctx * d_attn per token, where N
    counts the matmul weights (here with the LM head) and the mask term is already causally
    averaged; with the exact causal average over T positions, n_ctx = T + 1."""
    seq_len, n_layer, d_attn = 128, 2, 32
    n = 2 * (2 * 32 * 32 + 2 * 32 * 16 + 3 * 32 * 64) + 100 * 32  # q, o, k, v, MLP + LM head
    assert n == dense_weights(transformer) == 21632
    expected = 6 * n + 6 * n_layer * (seq_len + 1) * d_attn
    assert train_flops_per_token(transformer, seq_len) == expected == 179328
    # the attention term grows linearly with the sequence
    longer = train_flops_per_token(transformer, 2 * seq_len + 1)
    assert longer - expected == 6 * n_layer * (seq_len + 1) * d_attn


def test_window_caps_the_attention_term(transformer: ArchSpec) -> None:
    windowed = replace(transformer, attention=AttentionSpec(n_heads=4, n_kv_heads=2, window=16))
    seq_len = 128
    pairs = 16 * 17 // 2 + (seq_len - 16) * 16  # first 16 queries see 1..16 keys, the rest 16
    assert pairs == 1928
    expected = 6 * dense_weights(windowed) + 3 * 2 * (4 * 32) * pairs / seq_len
    assert train_flops_per_token(windowed, seq_len) == pytest.approx(expected, rel=1e-12)
    # a window at least as long as the sequence is global attention
    wide = replace(transformer, attention=AttentionSpec(n_heads=4, n_kv_heads=2, window=128))
    assert train_flops_per_token(wide, seq_len) == train_flops_per_token(transformer, seq_len)


def test_mamba1_scan_term(mamba1: ArchSpec) -> None:
    di, n = 64, 8
    dense = 2 * (32 * 128 + 64 * 4 + 64 * 18 + 2 * 64 + 64 * 32) + 100 * 32
    assert dense == 18560
    expected = 6 * dense + 3 * 2 * 7 * di * n  # 7 FLOPs per (channel, state) pair, x3 to train
    assert train_flops_per_token(mamba1, 64) == train_flops_per_token(mamba1, 4096) == expected


def test_mamba2_scan_term(mamba2: ArchSpec) -> None:
    di, n = 64, 8
    dense = 2 * (32 * 164 + 96 * 4 + 64 * 32) + 100 * 32  # in_proj, conv, out_proj; LM head
    assert decode_flops_per_token(mamba2, 10_000) == 2 * dense + 2 * 5 * di * n


def test_hybrid_decode(hybrid: ArchSpec) -> None:
    scan = 2 * 5 * 64 * 4
    attention = 4 * 32  # FLOPs per (query, key) pair
    base = 2 * dense_weights(hybrid) + scan
    assert decode_flops_per_token(hybrid, 0) == base + attention * 1  # attends to itself
    assert decode_flops_per_token(hybrid, 9) == base + attention * 10
    assert decode_flops_per_token(hybrid, 1000) == base + attention * 16  # window


@pytest.mark.parametrize("name", ["transformer", "mamba1", "mamba2", "hybrid"])
@pytest.mark.parametrize("length", [1, 15, 16, 17, 300])
def test_training_prefill_and_decode_agree(
    name: str, length: int, request: pytest.FixtureRequest
) -> None:
    arch = request.getfixturevalue(name)
    prefill = prefill_flops(arch, length)
    assert train_flops_per_token(arch, length) == pytest.approx(3 * prefill / length, rel=1e-12)
    # decoding one more token costs what prefilling one more token adds
    assert decode_flops_per_token(arch, length) == prefill_flops(arch, length + 1) - prefill
    assert prefill_flops(arch, 0) == 0


def test_estimate_collects_every_figure(hybrid: ArchSpec) -> None:
    figures = estimate(hybrid, seq_len=64, context=512)
    assert figures.to_dict() == {
        "params": param_count(hybrid),
        "non_embedding_params": param_count(hybrid) - 64 * 32,
        "train_flops_per_token": train_flops_per_token(hybrid, 64),
        "prefill_flops": prefill_flops(hybrid, 512),
        "decode_flops_per_token": decode_flops_per_token(hybrid, 512),
        "state_bytes": figures.state_bytes,
        "seq_len": 64,
        "context": 512,
    }


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_lengths_are_checked(hybrid: ArchSpec, bad: object) -> None:
    with pytest.raises(ValueError, match="seq_len must be an integer >= 1"):
        train_flops_per_token(hybrid, bad)  # type: ignore[arg-type]
