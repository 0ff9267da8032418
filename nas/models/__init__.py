"""Proxy language models built from an ArchSpec.

:func:`build_model` returns a :class:`HybridLM`: a token embedding, one pre-norm residual
block per layout letter (M: Mamba-1 or Mamba-2 mixer, A: causal attention with GQA, RoPE and
an optional sliding window, F: SwiGLU or GELU MLP), a final RMSNorm and a tied or untied LM
head. SSM blocks call ``kernels.selective_scan`` / ``kernels.ssd`` with the chosen backend.
Its parameter count is :func:`nas.compute.param_count`, exactly.

Example:
    >>> import torch
    >>> from nas.arch import ArchSpec
    >>> model = build_model(ArchSpec.parse("MMMA", d_model=32, vocab_size=64), backend="torch")
    >>> model(torch.randint(0, 64, (2, 16))).shape
    torch.Size([2, 16, 64])
"""

from nas.models._lm import HybridLM, build_model

__all__ = ["HybridLM", "build_model"]
