"""Parameter counts of the reference architectures, worked out tensor by tensor."""

from __future__ import annotations

from dataclasses import replace

from nas.arch import ArchSpec
from nas.compute import dense_weights, non_embedding_params, param_count


def test_transformer(transformer: ArchSpec) -> None:
    d, vocab = 32, 100
    attention = d + d * d + 2 * d * (2 * 8) + d * d  # norm, q, k and v (2 KV heads of 8), o
    assert attention == 3104
    mlp = d + 3 * d * 64  # norm, gate/up/down
    assert mlp == 6176
    body = 2 * (attention + mlp) + d  # + final norm
    assert non_embedding_params(transformer) == body == 18592
    assert param_count(transformer) == body + 2 * vocab * d == 24992  # embedding + untied head


def test_mamba1(mamba1: ArchSpec) -> None:
    d, di, n, k, r = 32, 64, 8, 4, 2
    block = (
        d  # norm
        + d * 2 * di  # in_proj 4096
        + (di * k + di)  # conv + bias 320
        + di * (r + 2 * n)  # x_proj 1152
        + (r * di + di)  # dt_proj + bias 192
        + di * n  # A_log 512
        + di  # D
        + di * d  # out_proj 2048
    )
    assert block == 8416
    assert param_count(mamba1) == 2 * block + d + 100 * d == 20064  # tied: one V*d matrix
    assert non_embedding_params(mamba1) == 2 * block + d


def test_mamba2(mamba2: ArchSpec) -> None:
    d, di, n, k, h, g = 32, 64, 8, 4, 4, 2
    conv_channels = di + 2 * g * n  # x, B, C
    block = (
        d  # norm
        + d * (2 * di + 2 * g * n + h)  # in_proj: z, x, B, C, dt = 5248
        + conv_channels * (k + 1)  # conv + bias 480
        + 3 * h  # A_log, dt_bias, D
        + di  # gated norm
        + di * d  # out_proj
    )
    assert block == 7884
    assert param_count(mamba2) == 2 * block + d + 2 * 100 * d == 22200


def test_hybrid(hybrid: ArchSpec) -> None:
    d, di, n, k, h = 32, 64, 4, 4, 4
    ssm = d + d * (2 * di + 2 * n + h) + (di + 2 * n) * (k + 1) + 3 * h + di + di * d
    assert ssm == 6996
    mlp = d + 2 * d * 64  # GELU: up, down
    attention = d + 4 * d * d  # q, k, v, o with as many KV heads as heads
    assert param_count(hybrid) == 2 * ssm + 3 * mlp + attention + d + 64 * d == 32584


def test_untying_adds_one_vocabulary_matrix(hybrid: ArchSpec) -> None:
    untied = replace(hybrid, tie_embeddings=False)
    assert param_count(untied) - param_count(hybrid) == 64 * 32
    assert non_embedding_params(untied) == non_embedding_params(hybrid)


def test_dense_weights_leave_out_norms_biases_and_ssm_vectors(mamba1: ArchSpec) -> None:
    d, di, n, r, k = 32, 64, 8, 2, 4
    per_block = d * 2 * di + di * k + di * (r + 2 * n) + r * di + di * d
    assert dense_weights(mamba1) == 2 * per_block + 100 * d  # + the (tied) LM head
