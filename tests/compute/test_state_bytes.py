"""Decode state: KV cache, SSM state and conv state, counted by hand."""

from __future__ import annotations

import pytest

from nas.arch import ArchSpec
from nas.compute import state_bytes


def test_transformer_kv_cache_grows_with_context(transformer: ArchSpec) -> None:
    per_token = 2 * 2 * 8  # K and V, 2 KV heads of 8: GQA shrinks the cache, not the heads
    assert state_bytes(transformer, 1000) == 2 * per_token * 1000 * 2 == 128_000
    assert state_bytes(transformer, 0) == 0


def test_mamba1_state_is_constant(mamba1: ArchSpec) -> None:
    per_block = 64 * 8 + 3 * 64  # SSM state Di*N, conv state (d_conv - 1) * Di
    assert state_bytes(mamba1, 1) == state_bytes(mamba1, 10**6) == 2 * 2 * per_block == 2816


def test_mamba2_state_includes_the_bc_conv_channels(mamba2: ArchSpec) -> None:
    per_block = 4 * 16 * 8 + 3 * (64 + 2 * 2 * 8)  # H*P*N, conv over x, B and C
    assert per_block == 800
    assert state_bytes(mamba2, 512) == 2 * 2 * per_block
    assert state_bytes(mamba2, 512, bytes_per_element=4) == 4 * 2 * per_block


def test_hybrid_window_caps_the_cache(hybrid: ArchSpec) -> None:
    ssm = 2 * (64 * 4 + 3 * (64 + 2 * 4))  # two Mamba-2 blocks
    kv_per_token = 2 * 4 * 8
    assert state_bytes(hybrid, 10) == 2 * (ssm + kv_per_token * 10)
    assert state_bytes(hybrid, 16) == state_bytes(hybrid, 100_000) == 2 * (ssm + kv_per_token * 16)


def test_bytes_per_element_is_checked(hybrid: ArchSpec) -> None:
    with pytest.raises(ValueError, match="bytes_per_element"):
        state_bytes(hybrid, 10, bytes_per_element=0)
