"""The analytical compute model: parameters, FLOPs and inference state of an ArchSpec.

Nothing here builds or runs a model; every figure is a closed formula over the ArchSpec,
and :func:`param_count` equals ``sum(p.numel() for p in build_model(arch).parameters())``.

Example:
    >>> from nas.arch import ArchSpec
    >>> from nas.compute import estimate, param_count, state_bytes
    >>> arch = ArchSpec.parse("MMMA", d_model=64)
    >>> param_count(arch), state_bytes(arch, context=8192)
    (117352, 2112320)
    >>> estimate(arch, seq_len=256).train_flops_per_token
    887424.0

Formulas
--------
d = d_model, V = vocab_size, T = sequence length or context, W = attention window (none:
no cap), d_attn = n_heads * head_dim; SSM blocks: Di = expand * d, N = d_state, K = d_conv,
H = Di / headdim, G = ngroups. A multiply-add is 2 FLOPs.

- ``param_count``: V*d (embedding) + blocks + d (final norm) + V*d if the head is untied.
  Each block is an RMSNorm (d) plus Mamba-1, Mamba-2, attention or MLP weights, counted
  tensor by tensor in :func:`param_count`'s docstring.
- ``non_embedding_params``: param_count minus the embedding and the untied head.
- ``dense_weights`` (D): Linear weights + depthwise conv kernels + the LM head (V*d).
- ``prefill_flops(T)`` = T * (2D + scan) + n_attention * 4 * d_attn * S(T, W), with
  S(T, W) = sum_{t=1..T} min(t, W) causal (query, key) pairs and, per token and SSM block,
  scan = 7 * Di * N (Mamba-1) or 5 * Di * N (Mamba-2).
- ``train_flops_per_token(T)`` = 3 * prefill_flops(T) / T
  = 6D + 12 * n_attention * d_attn * S(T, W) / T + 3 * scan; for a pure transformer,
  Kaplan et al.'s 6N + 6 * n_layer * n_ctx * d_attn with n_ctx = T + 1.
- ``decode_flops_per_token(T)`` = 2D + scan + n_attention * 4 * d_attn * min(T + 1, W).
- ``state_bytes(T)`` = bytes_per_element (2, bf16) * [n_attention * 2 * h_kv * head_dim
  * min(T, W) + n_ssm * (Di * N + (K - 1) * conv channels)], conv channels = Di (Mamba-1)
  or Di + 2 * G * N (Mamba-2).
"""

from nas.compute._figures import ComputeFigures, estimate
from nas.compute._flops import decode_flops_per_token, prefill_flops, train_flops_per_token
from nas.compute._memory import state_bytes
from nas.compute._params import dense_weights, non_embedding_params, param_count

__all__ = [
    "ComputeFigures",
    "decode_flops_per_token",
    "dense_weights",
    "estimate",
    "non_embedding_params",
    "param_count",
    "prefill_flops",
    "state_bytes",
    "train_flops_per_token",
]
