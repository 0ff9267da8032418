"""HybridLM: the language model an ArchSpec describes.

token embedding -> one pre-norm residual block per layout letter (M: Mamba-1/2, A: attention,
F: MLP) -> final RMSNorm -> LM head (tied to the embedding or not).
"""

from __future__ import annotations

import torch
from torch import nn

from kernels import BACKENDS
from nas.arch import ATTENTION, MLP, SSM, ArchSpec
from nas.models._attention import Attention
from nas.models._init import INIT_STD, residual_std
from nas.models._mamba1 import Mamba1
from nas.models._mamba2 import Mamba2
from nas.models._mlp import MLP as FeedForward

NORM_EPS = 1e-5


def build_model(arch: ArchSpec, *, backend: str = "auto") -> HybridLM:
    """The freshly initialised model of ``arch``; its SSM blocks run the ``kernels`` scans with
    ``backend`` ("auto", "triton", "torch" or "reference"), recorded as ``model.backend``.

    Parameters are drawn from torch's global RNG: seed it (``torch.manual_seed``) first for a
    reproducible model.

    Example:
        >>> import torch
        >>> from nas.arch import ArchSpec
        >>> from nas.compute import param_count
        >>> model = build_model(ArchSpec.parse("MFAF", d_model=32, vocab_size=64), backend="torch")
        >>> model(torch.randint(0, 64, (2, 16))).shape
        torch.Size([2, 16, 64])
        >>> sum(p.numel() for p in model.parameters()) == param_count(model.arch)
        True
    """
    return HybridLM(arch, backend=backend)


class HybridLM(nn.Module):
    """tokens (batch, L) -> logits (batch, L, vocab_size)."""

    def __init__(self, arch: ArchSpec, *, backend: str = "auto") -> None:
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.arch, self.backend = arch, backend
        self.embedding = nn.Embedding(arch.vocab_size, arch.d_model)
        nn.init.normal_(self.embedding.weight, std=INIT_STD)
        out_std = residual_std(len(arch.layout))
        self.blocks = nn.ModuleList(
            Block(arch.d_model, _mixer(arch, letter, out_std, backend)) for letter in arch.layout
        )
        self.norm_f = nn.RMSNorm(arch.d_model, eps=NORM_EPS)
        self.lm_head = nn.Linear(arch.d_model, arch.vocab_size, bias=False)
        if arch.tie_embeddings:
            self.lm_head.weight = self.embedding.weight
        else:
            nn.init.normal_(self.lm_head.weight, std=INIT_STD)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embedding(tokens)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.norm_f(x))


class Block(nn.Module):
    """x + mixer(RMSNorm(x))."""

    def __init__(self, d_model: int, mixer: nn.Module) -> None:
        super().__init__()
        self.norm = nn.RMSNorm(d_model, eps=NORM_EPS)
        self.mixer = mixer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mixer(self.norm(x))


def _mixer(arch: ArchSpec, letter: str, out_std: float, backend: str) -> nn.Module:
    if letter == SSM:
        assert arch.ssm is not None
        kind = Mamba1 if arch.ssm.kind == "mamba1" else Mamba2
        return kind(arch.d_model, arch.ssm, out_std=out_std, backend=backend)
    if letter == ATTENTION:
        assert arch.attention is not None
        return Attention(arch.d_model, arch.attention, out_std=out_std)
    assert letter == MLP and arch.mlp is not None
    return FeedForward(arch.d_model, arch.mlp, out_std=out_std)
