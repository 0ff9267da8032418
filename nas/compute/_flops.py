"""FLOPs: training per token, prefill of a context, and one decode step.

A multiply-add is 2 FLOPs. Three terms make up the forward pass; work linear in the width
(norms, activations, softplus, the D skip, gating, residual adds, softmax) is left out, as in
the usual 6N accounting. Training costs 3x the forward (the backward computes gradients for
both operands of every product, 2x the forward), for all three terms alike.
"""

from __future__ import annotations

from nas.arch import ArchSpec
from nas.compute._params import dense_weights

# forward FLOPs per token, per SSM inner channel and state index (see _scan_flops_per_token)
MAMBA1_SCAN_FLOPS = 7
MAMBA2_SCAN_FLOPS = 5
TRAIN_MULTIPLIER = 3  # forward + backward (2x forward)


def train_flops_per_token(arch: ArchSpec, seq_len: int) -> float:
    """Training FLOPs per token at sequence length T = ``seq_len`` (forward + backward).

    ``3 * prefill_flops(arch, T) / T``, that is::

        6 * dense_weights                              matmuls (6N), LM head included
        + 12 * n_attention * d_attn * S(T, W) / T      attention scores and values
        + 3 * scan_flops                               the SSM recurrence

    where d_attn = n_heads * head_dim (= d_model), S(T, W) = sum over t = 1..T of min(t, W)
    is the number of (query, key) pairs under the causal (window W) mask, so
    ``S / T = (T + 1) / 2`` for global attention, and scan_flops is defined in
    :func:`prefill_flops`. For a pure transformer this is Kaplan et al. (2020)'s
    ``C = 6N + 6 * n_layer * n_ctx * d_attn`` with n_ctx = T + 1 (their mask term is
    already causally halved) and N counting the LM head.

    Example:
        >>> from nas.arch import ArchSpec
        >>> train_flops_per_token(ArchSpec.parse("MMMA", d_model=64), seq_len=256)
        887424.0
    """
    check_length("seq_len", seq_len, minimum=1)
    return TRAIN_MULTIPLIER * prefill_flops(arch, seq_len) / seq_len


def prefill_flops(arch: ArchSpec, context: int) -> float:
    """Forward FLOPs to process ``context`` tokens in one pass (logits at every position).

    ``T * (2 * dense_weights + scan_flops) + n_attention * 4 * d_attn * S(T, W)``:

    - dense_weights: every Linear weight, the depthwise conv kernels and the LM head
      (:func:`nas.compute.dense_weights`), one multiply-add each per token;
    - attention: per (query, key) pair, head_dim multiply-adds per head for the score q.k and
      as many for the weighted value sum, 4 * d_attn FLOPs; S(T, W) = sum_t min(t, W) pairs
      (T(T+1)/2 without a window): query t sees keys t-W+1..t;
    - scan_flops per token, per SSM block, over its Di * N (channel, state) pairs:
      Mamba-1 ``7 * Di * N`` (exp(delta*A): 2, (delta*u)*B: 1, h = a*h + b: 2, C.h: 2);
      Mamba-2 ``5 * Di * N`` (the decay is one scalar per head: (dt*x)*B: 1, update: 2, C.h: 2),
      the recurrent form's count (the chunked SSD algorithm does extra intra-chunk matmuls
      to use matrix units; they are an implementation choice and not counted).

    Example:
        >>> from nas.arch import ArchSpec
        >>> prefill_flops(ArchSpec.parse("AF", d_model=64, vocab_size=256), context=4)
        461312.0
    """
    check_length("context", context, minimum=0)
    per_token = 2 * dense_weights(arch) + _scan_flops_per_token(arch)
    return float(context * per_token + _attention_pair_flops(arch) * _pairs(arch, context))


def decode_flops_per_token(arch: ArchSpec, context: int) -> float:
    """Forward FLOPs to generate one token after ``context`` cached tokens.

    ``2 * dense_weights + scan_flops + n_attention * 4 * d_attn * min(context + 1, W)``: the
    new token attends to the cached keys and itself, at most W of them with a window; the
    SSM blocks take one recurrent step (the same per-token scan_flops as
    :func:`prefill_flops`), whatever the context.

    Example:
        >>> from nas.arch import ArchSpec
        >>> decode_flops_per_token(ArchSpec.parse("MMMA", d_model=64), context=8191)
        2360064.0
    """
    check_length("context", context, minimum=0)
    keys = visible_keys(arch, context + 1)
    per_token = 2 * dense_weights(arch) + _scan_flops_per_token(arch)
    return float(per_token + _attention_pair_flops(arch) * keys)


def _scan_flops_per_token(arch: ArchSpec) -> int:
    if arch.ssm is None:
        return 0
    per_pair = MAMBA1_SCAN_FLOPS if arch.ssm.kind == "mamba1" else MAMBA2_SCAN_FLOPS
    return arch.n_ssm * per_pair * arch.ssm.d_inner(arch.d_model) * arch.ssm.d_state


def _attention_pair_flops(arch: ArchSpec) -> int:
    """FLOPs per (query, key) pair summed over the attention blocks: 4 * d_attn each."""
    if arch.attention is None:
        return 0
    d_attn = arch.attention.n_heads * arch.attention.head_dim(arch.d_model)
    return arch.n_attention * 4 * d_attn


def _pairs(arch: ArchSpec, length: int) -> int:
    """S(T, W): (query, key) pairs a causal pass over ``length`` tokens computes."""
    window = arch.attention.window if arch.attention is not None else None
    if window is None or window >= length:
        return length * (length + 1) // 2
    return window * (window + 1) // 2 + (length - window) * window


def visible_keys(arch: ArchSpec, length: int) -> int:
    """Keys the last of ``length`` tokens attends to: min(length, W)."""
    window = arch.attention.window if arch.attention is not None else None
    return length if window is None else min(length, window)


def check_length(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
