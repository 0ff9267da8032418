"""Decode state: what one sequence keeps in memory between tokens."""

from __future__ import annotations

from nas.arch import ArchSpec
from nas.compute._flops import check_length, visible_keys


def state_bytes(arch: ArchSpec, context: int, bytes_per_element: int = 2) -> int:
    """Bytes of inference state for one sequence after ``context`` tokens (bf16 by default).

    ``bytes_per_element *`` the sum over blocks of:

    - attention: the KV cache, ``2 * h_kv * head_dim * min(context, W)`` (W = window, none:
      no cap);
    - Mamba-1: SSM state ``Di * N`` plus conv state ``(K - 1) * Di``;
    - Mamba-2: SSM state ``H * P * N`` (= Di * N) plus conv state ``(K - 1) * (Di + 2*G*N)``
      (the conv runs over x, B and C);
    - MLP: nothing.

    The SSM terms do not grow with the context; the KV cache does until the window.

    Example:
        >>> from nas.arch import ArchSpec
        >>> state_bytes(ArchSpec.parse("MMMA", d_model=64), context=8192)
        2112320
    """
    check_length("context", context, minimum=0)
    check_length("bytes_per_element", bytes_per_element, minimum=1)
    elements = 0
    if arch.attention is not None:
        kv_width = arch.attention.n_kv_heads * arch.attention.head_dim(arch.d_model)
        elements += arch.n_attention * 2 * kv_width * visible_keys(arch, context)
    if arch.ssm is not None:
        ssm = arch.ssm
        d_inner = ssm.d_inner(arch.d_model)
        if ssm.kind == "mamba1":
            conv_channels = d_inner
        else:
            assert ssm.ngroups is not None
            conv_channels = d_inner + 2 * ssm.ngroups * ssm.d_state
        per_block = d_inner * ssm.d_state + (ssm.d_conv - 1) * conv_channels
        elements += arch.n_ssm * per_block
    return bytes_per_element * elements
