"""Parameter and weight counts, block by block, mirroring ``nas.models`` tensor by tensor.

Notation (used by every formula in ``nas.compute``): d = d_model, V = vocab_size;
SSM blocks: E = expand, Di = E*d, N = d_state, K = d_conv, R = dt_rank (Mamba-1),
P = headdim, H = Di/P heads, G = ngroups (Mamba-2); attention blocks: h heads, h_kv KV heads,
hd = d/h; MLP blocks: d_ff.
"""

from __future__ import annotations

from nas.arch import ATTENTION, MLP, SSM, ArchSpec


def param_count(arch: ArchSpec) -> int:
    """Exact number of trainable parameters of ``build_model(arch)``.

    ``V*d`` (token embedding) ``+ sum of block parameters + d`` (final RMSNorm) ``+ V*d`` when
    the head is untied. Every block has its RMSNorm (d) plus its mixer or MLP::

        Mamba-1  2*d*Di (in_proj) + Di*(K+1) (conv + bias) + Di*(R+2N) (x_proj)
                 + Di*(R+1) (dt_proj + bias) + Di*N (A_log) + Di (D) + Di*d (out_proj)
        Mamba-2  d*(2*Di + 2*G*N + H) (in_proj: z, x, B, C, dt) + (Di + 2*G*N)*(K+1) (conv)
                 + 3*H (A_log, dt_bias, D) + Di (gated norm) + Di*d (out_proj)
        attention  d*d (q) + 2*d*h_kv*hd (k, v) + d*d (o)
        MLP      3*d*d_ff (SwiGLU: gate, up, down) or 2*d*d_ff (GELU: up, down)

    Example:
        >>> from nas.arch import ArchSpec, MLPSpec
        >>> param_count(ArchSpec.parse("AF", d_model=8, vocab_size=10, mlp=MLPSpec(d_ff=16)))
        744
    """
    head = 0 if arch.tie_embeddings else arch.vocab_size * arch.d_model
    return _embedding(arch) + head + _body_params(arch)


def non_embedding_params(arch: ArchSpec) -> int:
    """Parameters without the token embedding and the (untied) output head.

    ``param_count - V*d`` when tied, ``param_count - 2*V*d`` when untied (Kaplan et al. 2020's
    N: the vocabulary matrices are left out whichever way they are shared); the final RMSNorm
    stays in.

    Example:
        >>> from nas.arch import ArchSpec, MLPSpec
        >>> non_embedding_params(ArchSpec.parse("AF", d_model=8, vocab_size=10, mlp=MLPSpec(d_ff=16)))
        664
    """
    return _body_params(arch)


def dense_weights(arch: ArchSpec) -> int:
    """Weights that each take part in one multiply-add per token: every Linear weight, the LM
    head (``V*d``, tied or not) and the depthwise conv kernels; no embedding lookup, norms,
    biases, A_log, D or dt_bias. The forward pass spends ``2 * dense_weights`` FLOPs per token
    on them."""
    per_block = sum(_block_dense_weights(arch, letter) for letter in arch.layout)
    return per_block + arch.vocab_size * arch.d_model


def _embedding(arch: ArchSpec) -> int:
    return arch.vocab_size * arch.d_model


def _body_params(arch: ArchSpec) -> int:
    """Blocks plus the final RMSNorm."""
    return sum(_block_params(arch, letter) for letter in arch.layout) + arch.d_model


def _block_params(arch: ArchSpec, letter: str) -> int:
    """One residual block: its RMSNorm (d) and its mixer or MLP."""
    d = arch.d_model
    if letter == SSM:
        assert arch.ssm is not None
        ssm = arch.ssm
        di, n, k = ssm.d_inner(d), ssm.d_state, ssm.d_conv
        if ssm.kind == "mamba1":
            assert ssm.dt_rank is not None
            r = ssm.dt_rank
            # in_proj, conv (+bias), x_proj, dt_proj (+bias), A_log, D, out_proj
            mixer = (
                2 * d * di + di * (k + 1) + di * (r + 2 * n) + di * (r + 1) + di * n + di + di * d
            )
        else:
            assert ssm.ngroups is not None
            g, h = ssm.ngroups, ssm.n_heads(d)
            conv_channels = di + 2 * g * n
            # in_proj, conv (+bias), A_log + dt_bias + D, gated norm, out_proj
            mixer = d * (2 * di + 2 * g * n + h) + conv_channels * (k + 1) + 3 * h + di + di * d
    elif letter == ATTENTION:
        mixer = _attention_weights(arch)
    elif letter == MLP:
        mixer = _mlp_weights(arch)
    else:
        raise ValueError(f"unknown block letter {letter!r} in layout {arch.layout!r}")
    return d + mixer


def _block_dense_weights(arch: ArchSpec, letter: str) -> int:
    d = arch.d_model
    if letter == SSM:
        assert arch.ssm is not None
        ssm = arch.ssm
        di, n, k = ssm.d_inner(d), ssm.d_state, ssm.d_conv
        if ssm.kind == "mamba1":
            assert ssm.dt_rank is not None
            r = ssm.dt_rank
            # in_proj, conv, x_proj, dt_proj, out_proj
            return 2 * d * di + di * k + di * (r + 2 * n) + r * di + di * d
        assert ssm.ngroups is not None
        g, h = ssm.ngroups, ssm.n_heads(d)
        # in_proj, conv, out_proj
        return d * (2 * di + 2 * g * n + h) + (di + 2 * g * n) * k + di * d
    if letter == ATTENTION:
        return _attention_weights(arch)
    return _mlp_weights(arch)


def _attention_weights(arch: ArchSpec) -> int:
    assert arch.attention is not None
    d = arch.d_model
    kv_width = arch.attention.n_kv_heads * arch.attention.head_dim(d)
    return 2 * d * d + 2 * d * kv_width


def _mlp_weights(arch: ArchSpec) -> int:
    assert arch.mlp is not None
    matrices = 3 if arch.mlp.kind == "swiglu" else 2
    return matrices * arch.d_model * arch.mlp.d_ff
