"""ArchSpec: the one value that describes an architecture, everywhere in the toolkit.

It is frozen and canonical: settings that cannot affect the model are dropped when the
value is built (attention settings in a pure-SSM layout, ``headdim`` for Mamba-1, ...), so
two architectures that build the same model have the same JSON and the same hash.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from nas.arch._layout import ATTENTION, MLP, SSM, parse_layout, reduced_ratio

SSMKind = Literal["mamba1", "mamba2"]
MLPKind = Literal["swiglu", "gelu"]


@dataclass(frozen=True)
class SSMSpec:
    """Settings of every SSM (M) block.

    ``dt_rank`` applies to Mamba-1 only; ``headdim`` and ``ngroups`` to Mamba-2 only. The
    others are set to None on construction so that they cannot split equal architectures.
    """

    kind: SSMKind = "mamba2"
    d_state: int = 16
    expand: int = 2
    d_conv: int = 4
    dt_min: float = 0.001
    dt_max: float = 0.1
    dt_rank: int | None = None  # Mamba-1; None with mamba1 means ceil(d_model / 16)
    headdim: int | None = 16  # Mamba-2
    ngroups: int | None = 1  # Mamba-2

    def __post_init__(self) -> None:
        if self.kind not in ("mamba1", "mamba2"):
            raise ValueError(f"ssm.kind must be 'mamba1' or 'mamba2', got {self.kind!r}")
        _positive(self, "d_state", "expand", "d_conv")
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(
                f"ssm dt range needs 0 < dt_min <= dt_max, got {self.dt_min}, {self.dt_max}"
            )
        if self.kind == "mamba1":
            object.__setattr__(self, "headdim", None)
            object.__setattr__(self, "ngroups", None)
        else:
            object.__setattr__(self, "dt_rank", None)
            if self.headdim is None or self.ngroups is None:
                raise ValueError("mamba2 needs ssm.headdim and ssm.ngroups")
            _positive(self, "headdim", "ngroups")

    def d_inner(self, d_model: int) -> int:
        """Width of the SSM's inner channels: ``expand * d_model``."""
        return self.expand * d_model

    def n_heads(self, d_model: int) -> int:
        """Mamba-2 heads: ``d_inner / headdim``."""
        assert self.headdim is not None, "n_heads applies to mamba2"
        return self.d_inner(d_model) // self.headdim


@dataclass(frozen=True)
class AttentionSpec:
    """Settings of every attention (A) block. ``window=None`` means global causal attention."""

    n_heads: int = 4
    n_kv_heads: int = 4
    window: int | None = None
    rope: bool = True
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        _positive(self, "n_heads", "n_kv_heads")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(
                f"attention.n_kv_heads ({self.n_kv_heads}) must divide n_heads ({self.n_heads})"
            )
        if self.window is not None and self.window < 1:
            raise ValueError(f"attention.window must be >= 1 or null, got {self.window}")
        if not self.rope:
            object.__setattr__(self, "rope_theta", 10000.0)

    def head_dim(self, d_model: int) -> int:
        return d_model // self.n_heads


@dataclass(frozen=True)
class MLPSpec:
    """Settings of every MLP (F) block; ``d_ff`` is the hidden width."""

    kind: MLPKind = "swiglu"
    d_ff: int = 128

    def __post_init__(self) -> None:
        if self.kind not in ("swiglu", "gelu"):
            raise ValueError(f"mlp.kind must be 'swiglu' or 'gelu', got {self.kind!r}")
        _positive(self, "d_ff")


@dataclass(frozen=True)
class ArchSpec:
    """A complete architecture: a canonical layout string plus every dimension.

    Example:
        >>> spec = ArchSpec(layout="MFMFMFAF", d_model=64, vocab_size=256)
        >>> spec.ratio, spec.n_layers
        ('3:1', 4)
        >>> ArchSpec.from_json(spec.to_json()) == spec
        True
    """

    layout: str
    d_model: int = 64
    vocab_size: int = 256
    tie_embeddings: bool = True
    ssm: SSMSpec | None = field(default_factory=SSMSpec)
    attention: AttentionSpec | None = field(default_factory=AttentionSpec)
    mlp: MLPSpec | None = field(default_factory=MLPSpec)

    def __post_init__(self) -> None:
        layout = parse_layout(self.layout)
        object.__setattr__(self, "layout", layout)
        _positive(self, "d_model", "vocab_size")
        for letter, name in ((SSM, "ssm"), (ATTENTION, "attention"), (MLP, "mlp")):
            if letter not in layout:
                object.__setattr__(self, name, None)
            elif getattr(self, name) is None:
                raise ValueError(f"layout {layout!r} has {letter} blocks but no {name} settings")
        if self.ssm is not None:
            self._check_ssm(self.ssm)
        if self.attention is not None:
            self._check_attention(self.attention)

    def _check_attention(self, attention: AttentionSpec) -> None:
        if self.d_model % attention.n_heads:
            raise ValueError(
                f"attention.n_heads ({attention.n_heads}) must divide d_model ({self.d_model})"
            )
        head_dim = attention.head_dim(self.d_model)
        if attention.rope and head_dim % 2:  # RoPE rotates channel pairs
            raise ValueError(
                f"attention.rope needs an even head_dim, got d_model / n_heads = {head_dim}: "
                "change n_heads or d_model, or set attention.rope to false"
            )

    def _check_ssm(self, ssm: SSMSpec) -> None:
        if ssm.kind == "mamba1" and ssm.dt_rank is None:
            object.__setattr__(self, "ssm", replace(ssm, dt_rank=math.ceil(self.d_model / 16)))
        if ssm.kind == "mamba2":
            d_inner = ssm.d_inner(self.d_model)
            assert ssm.headdim is not None and ssm.ngroups is not None
            if d_inner % ssm.headdim:
                raise ValueError(
                    f"ssm.headdim ({ssm.headdim}) must divide d_inner = expand*d_model ({d_inner})"
                )
            if (d_inner // ssm.headdim) % ssm.ngroups:
                raise ValueError(
                    f"ssm.ngroups ({ssm.ngroups}) must divide the {d_inner // ssm.headdim} Mamba-2 heads"
                )

    # -- derived counts -------------------------------------------------------------------
    @property
    def n_ssm(self) -> int:
        return self.layout.count(SSM)

    @property
    def n_attention(self) -> int:
        return self.layout.count(ATTENTION)

    @property
    def n_mlp(self) -> int:
        return self.layout.count(MLP)

    @property
    def n_layers(self) -> int:
        """Mixer layers (M and A blocks); MLP blocks are not counted."""
        return self.n_ssm + self.n_attention

    @property
    def ratio(self) -> str:
        """SSM:attention ratio in lowest terms, e.g. ``"3:1"``, ``"1:0"`` (pure SSM)."""
        return reduced_ratio(self.layout)

    @property
    def attention_fraction(self) -> float:
        """Share of mixer layers that are attention, in [0, 1]."""
        return self.n_attention / self.n_layers

    @property
    def family(self) -> Literal["ssm", "attention", "hybrid"]:
        if self.n_attention == 0:
            return "ssm"
        return "attention" if self.n_ssm == 0 else "hybrid"

    # -- identity -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace; the input of :attr:`arch_hash`."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def arch_hash(self) -> str:
        """First 16 hex digits of the SHA-256 of :meth:`to_json`; stable across runs."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown ArchSpec keys: {', '.join(sorted(unknown))}")
        sub = {"ssm": SSMSpec, "attention": AttentionSpec, "mlp": MLPSpec}
        kwargs = {
            key: (sub[key](**value) if key in sub and isinstance(value, dict) else value)
            for key, value in data.items()
        }
        if "layout" not in kwargs:
            raise ValueError("an ArchSpec needs a 'layout'")
        for key in sub:  # absent sub-settings mean "none", as in to_json's output
            kwargs.setdefault(key, None)
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        return cls.from_dict(json.loads(text))

    @classmethod
    def parse(cls, text: str, **overrides: Any) -> ArchSpec:
        """Build a spec from a JSON object or a layout pattern with default dimensions.

        >>> ArchSpec.parse("(MMMA)x2", d_model=32).layout
        'MMMAMMMA'
        """
        text = text.strip()
        if text.startswith("{"):
            spec = cls.from_json(text)
            return replace(spec, **overrides) if overrides else spec
        return cls(layout=text, **overrides)


def _positive(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
