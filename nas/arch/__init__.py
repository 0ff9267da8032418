"""The architecture value type shared by every room of the toolkit."""

from nas.arch._layout import (
    ATTENTION,
    BLOCK_LETTERS,
    MLP,
    PLACEMENTS,
    SSM,
    LayoutError,
    Placement,
    layout_from_ratio,
    parse_layout,
    parse_ratio,
    reduced_ratio,
)
from nas.arch._spec import ArchSpec, AttentionSpec, MLPKind, MLPSpec, SSMKind, SSMSpec

__all__ = [
    "ATTENTION",
    "BLOCK_LETTERS",
    "MLP",
    "PLACEMENTS",
    "SSM",
    "ArchSpec",
    "AttentionSpec",
    "LayoutError",
    "MLPKind",
    "MLPSpec",
    "Placement",
    "SSMKind",
    "SSMSpec",
    "layout_from_ratio",
    "parse_layout",
    "parse_ratio",
    "reduced_ratio",
]
