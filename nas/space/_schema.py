"""The keys a search-space file may hold, their types and defaults.

Every key under a section is a *parameter*: it may be a fixed value, a choice or a range (see
``nas.space``'s docstring). Defaults come from the ArchSpec dataclasses, so they cannot drift.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any, Literal

from nas.arch import PLACEMENTS, ArchSpec, AttentionSpec, MLPSpec, SSMSpec

KeyType = Literal["int", "float", "bool", "enum", "ratio", "pattern"]


@dataclass(frozen=True)
class Key:
    """One parameter key: its type, default and bounds.

    ``default`` is the value used when the key is absent (``REQUIRED``: it must be given;
    None for a nullable key means null). ``minimum`` bounds int values (inclusive);
    ``positive`` floats must be > 0.
    """

    type: KeyType
    default: Any
    help: str
    options: tuple[str, ...] = ()
    nullable: bool = False
    minimum: int | None = None
    positive: bool = False


REQUIRED = object()
DEFAULT_VOCAB = object()  # vocab_size: load_space's default_vocab_size
SAME_AS_N_HEADS = None  # attention.n_kv_heads absent: plain multi-head attention


def _default(cls: type, name: str) -> Any:
    for f in fields(cls):
        if f.name == name:
            assert f.default is not MISSING
            return f.default
    raise KeyError(name)


TOP = {
    "d_model": Key("int", _default(ArchSpec, "d_model"), "model width", minimum=1),
    "vocab_size": Key(
        "int", DEFAULT_VOCAB, "vocabulary size; absent: the study's tasks decide", minimum=1
    ),
    "tie_embeddings": Key(
        "bool", _default(ArchSpec, "tie_embeddings"), "share input embedding and output head"
    ),
}

LAYOUT = {
    "pattern": Key(
        "pattern", REQUIRED, "explicit layout pattern, e.g. '(MMMA)x2' or Nemotron 'M-M-M*-'"
    ),
    "n_layers": Key("int", REQUIRED, "number of mixer (M and A) layers", minimum=1),
    "ratio": Key("ratio", REQUIRED, "SSM:attention ratio, e.g. '3:1', '1:0', '0:1'"),
    "placement": Key("enum", "interleave", "where attention layers go", options=tuple(PLACEMENTS)),
    "mlp": Key("bool", False, "an MLP (F) block after every mixer"),
}
RATIO_FORM = ("n_layers", "ratio", "placement", "mlp")

SSM = {
    "kind": Key("enum", _default(SSMSpec, "kind"), "SSM block type", options=("mamba1", "mamba2")),
    "d_state": Key("int", _default(SSMSpec, "d_state"), "SSM state size N", minimum=1),
    "expand": Key("int", _default(SSMSpec, "expand"), "d_inner = expand * d_model", minimum=1),
    "d_conv": Key("int", _default(SSMSpec, "d_conv"), "causal conv width", minimum=1),
    "headdim": Key("int", _default(SSMSpec, "headdim"), "Mamba-2 head dimension", minimum=1),
    "ngroups": Key("int", _default(SSMSpec, "ngroups"), "Mamba-2 B/C groups", minimum=1),
    "dt_rank": Key(
        "int",
        None,
        "Mamba-1 dt projection rank; null: ceil(d_model / 16)",
        nullable=True,
        minimum=1,
    ),
    "dt_min": Key("float", _default(SSMSpec, "dt_min"), "smallest initial dt", positive=True),
    "dt_max": Key("float", _default(SSMSpec, "dt_max"), "largest initial dt", positive=True),
}

ATTENTION = {
    "n_heads": Key("int", _default(AttentionSpec, "n_heads"), "query heads", minimum=1),
    "n_kv_heads": Key(
        "int", SAME_AS_N_HEADS, "key/value heads (GQA); absent: n_heads", nullable=True, minimum=1
    ),
    "window": Key("int", None, "sliding window; null: global causal", nullable=True, minimum=1),
    "rope": Key("bool", _default(AttentionSpec, "rope"), "rotary position embedding"),
    "rope_theta": Key("float", _default(AttentionSpec, "rope_theta"), "RoPE base", positive=True),
}

MLP = {
    "kind": Key("enum", _default(MLPSpec, "kind"), "MLP type", options=("swiglu", "gelu")),
    "expansion": Key("float", 2.0, "d_ff = expansion * d_model, rounded", positive=True),
    "multiple_of": Key("int", 1, "round d_ff to a multiple of this", minimum=1),
}

# section name ("" is the top level) -> its parameter keys
SECTIONS: dict[str, dict[str, Key]] = {
    "": TOP,
    "layout": LAYOUT,
    "ssm": SSM,
    "attention": ATTENTION,
    "mlp": MLP,
}
# top-level keys that are not parameters
META = ("name", "description", "extends", "constraints")
# the keys of a parameter written as a mapping
CHOICE_KEYS = ("choice",)
RANGE_KEYS = ("low", "high", "step", "log")


def param_name(section: str, key: str) -> str:
    """The stable parameter name (and Optuna param name): the key path, e.g. ``ssm.d_state``."""
    return f"{section}.{key}" if section else key
