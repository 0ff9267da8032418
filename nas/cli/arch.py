"""``nas arch show SPEC``: one architecture and its compute figures.

Also holds the architecture tables that ``nas space sample`` and ``nas space grid`` print.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nas.arch import ArchSpec, AttentionSpec, MLPSpec, SSMSpec
from nas.compute import estimate
from nas.errors import UserError
from nas.units import UNITS, short_figure

DEFAULT_SEQ_LEN = 1024
DEFAULT_CONTEXT = 8192
_PIPE_WIDTH = 160
_WHERE = ("seq_len", "context")  # figures' coordinates, shown in table titles


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("arch", help="inspect one architecture")
    actions = parser.add_subparsers(dest="arch_command", metavar="ACTION", required=True)
    show = actions.add_parser(
        "show",
        help="print an architecture and its compute figures",
        description="SPEC is a layout pattern such as '(MMMA)x2' or 'M-M*-', ArchSpec JSON, "
        "or a .json file; flags override its dimensions.",
    )
    show.add_argument("spec", metavar="SPEC")
    show.add_argument("--d-model", type=int)
    show.add_argument("--vocab-size", type=int)
    show.add_argument("--ssm-kind", choices=("mamba1", "mamba2"))
    show.add_argument("--d-state", type=int)
    show.add_argument("--expand", type=int)
    show.add_argument("--headdim", type=int)
    show.add_argument("--n-heads", type=int)
    show.add_argument("--n-kv-heads", type=int)
    show.add_argument("--window", type=int)
    show.add_argument("--mlp-kind", choices=("swiglu", "gelu"))
    show.add_argument("--d-ff", type=int)
    add_figure_flags(show)
    show.add_argument("--json", action="store_true", help="print JSON instead of tables")
    show.set_defaults(handler=_show)


def add_figure_flags(parser: argparse.ArgumentParser) -> None:
    """``--seq-len`` and ``--context``: where compute figures are taken."""
    parser.add_argument(
        "--seq-len",
        type=int,
        default=DEFAULT_SEQ_LEN,
        help="training sequence length for FLOPs/token",
    )
    parser.add_argument(
        "--context",
        type=int,
        default=DEFAULT_CONTEXT,
        help="context length for prefill/decode figures and state bytes",
    )


def console() -> Console:
    """The console of the current stdout (created per call, so captured output works).

    Output that goes to a file or pipe is laid out 160 columns wide (unless COLUMNS says
    otherwise) instead of rich's 80, so that architecture tables keep their layouts whole.
    """
    out = Console(highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = _PIPE_WIDTH
    return out


def _show(args: argparse.Namespace) -> int:
    arch = _build(args)
    figures = estimate(arch, seq_len=args.seq_len, context=args.context).to_dict()
    if args.json:
        print(json.dumps(arch_record(arch, figures), indent=2))
        return 0
    out = console()
    table = Table(title=f"architecture {arch.arch_hash}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", overflow="fold")
    for key, value in _arch_facts(arch):
        table.add_row(key, escape(value))
    out.print(table)
    out.print(figures_table(figures, args.seq_len, args.context))
    return 0


def _build(args: argparse.Namespace) -> ArchSpec:
    spec = args.spec
    path = Path(spec)
    text = path.read_text(encoding="utf-8") if spec.endswith(".json") and path.is_file() else spec
    top = {
        k: v
        for k, v in (("d_model", args.d_model), ("vocab_size", args.vocab_size))
        if v is not None
    }
    try:
        arch = ArchSpec.parse(text, **top)
        subs = {
            "ssm": _override(
                arch.ssm,
                SSMSpec,
                "SSM (M)",
                kind=args.ssm_kind,
                d_state=args.d_state,
                expand=args.expand,
                headdim=args.headdim,
            ),
            "attention": _override(
                arch.attention,
                AttentionSpec,
                "attention (A)",
                n_heads=args.n_heads,
                n_kv_heads=args.n_kv_heads,
                window=args.window,
            ),
            "mlp": _override(arch.mlp, MLPSpec, "MLP (F)", kind=args.mlp_kind, d_ff=args.d_ff),
        }
        subs = {k: v for k, v in subs.items() if v is not None}
        return replace(arch, **subs) if subs else arch
    except (ValueError, TypeError) as exc:  # also json.JSONDecodeError and LayoutError
        raise UserError(f"{spec}: {exc}") from None


def _override(current: Any, cls: type, blocks: str, **flags: Any) -> Any:
    given = {k: v for k, v in flags.items() if v is not None}
    if not given:
        return None
    if current is None:
        names = ", ".join("--" + k.replace("_", "-") for k in given)
        raise UserError(f"{names}: the layout has no {blocks} blocks")
    # None fields take their defaults again, so that a kind change re-derives its own fields
    kept = {k: v for k, v in asdict(current).items() if v is not None}
    return cls(**{**kept, **given})


def arch_record(arch: ArchSpec, figures: dict[str, Any]) -> dict[str, Any]:
    """One architecture as JSON-ready data: hash, ArchSpec fields, compute figures."""
    return {"arch_hash": arch.arch_hash, "arch": arch.to_dict(), "compute": figures}


def _arch_facts(arch: ArchSpec) -> list[tuple[str, str]]:
    facts = [
        ("layout", arch.layout),
        ("family", f"{arch.family}, ratio {arch.ratio}"),
        ("blocks", f"{arch.n_ssm} M, {arch.n_attention} A, {arch.n_mlp} F"),
        ("d_model", str(arch.d_model)),
        (
            "vocab_size",
            f"{arch.vocab_size} ({'tied' if arch.tie_embeddings else 'untied'} embeddings)",
        ),
    ]
    for name, sub in (("ssm", arch.ssm), ("attention", arch.attention), ("mlp", arch.mlp)):
        if sub is not None:
            facts.append(
                (name, ", ".join(f"{k}={v}" for k, v in asdict(sub).items() if v is not None))
            )
    facts.append(("json", arch.to_json()))
    return facts


def figures_table(figures: dict[str, Any], seq_len: int, context: int) -> Table:
    """Compute figures as a two-column table."""
    table = Table(title=f"compute figures (seq_len {seq_len}, context {context})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        if key not in _WHERE:
            table.add_row(key, format_figure(key, value))
    return table


def format_figure(key: str, value: Any, short: bool = False) -> str:
    """``1,234,567 (1.23M)``, or ``1.23M`` when ``short``; byte figures in KiB/MiB/GiB."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return escape(str(value))
    if short:
        return short_figure(value, key)
    exact = f"{value:,.0f}" if abs(value) >= 1 or value == 0 else f"{value:.4g}"
    if abs(value) < (UNITS["KiB"] if "bytes" in key else UNITS["K"]):
        return exact
    return f"{exact} ({short_figure(value, key)})"


def arch_table(
    archs: Sequence[ArchSpec],
    figures: Sequence[dict[str, Any]],
    title: str,
    figure_columns: Mapping[str, str],
    caption: str | None = None,
) -> Table:
    """One row per architecture: hash, layout, dimensions and compute figures
    (``figure_columns``: figure key -> column header)."""
    table = Table(title=title, caption=caption)
    table.add_column("hash", no_wrap=True)
    table.add_column("layout", overflow="fold", min_width=8)  # long layouts wrap, never truncate
    table.add_column("dimensions")
    for header in figure_columns.values():
        table.add_column(header, justify="right")
    for arch, figs in zip(archs, figures, strict=True):
        table.add_row(
            arch.arch_hash,
            arch.layout,
            dimensions(arch),
            *(format_figure(key, figs[key], short=True) for key in figure_columns),
        )
    return table


def dimensions(arch: ArchSpec) -> str:
    """A one-line summary, e.g. ``d=64 mamba2(N=16,x2) attn(4h/2kv,w256) swiglu(128)``."""
    parts = [f"d={arch.d_model}"]
    if arch.ssm is not None:
        parts.append(f"{arch.ssm.kind}(N={arch.ssm.d_state},x{arch.ssm.expand})")
    if arch.attention is not None:
        window = f",w{arch.attention.window}" if arch.attention.window else ""
        parts.append(f"attn({arch.attention.n_heads}h/{arch.attention.n_kv_heads}kv{window})")
    if arch.mlp is not None:
        parts.append(f"{arch.mlp.kind}({arch.mlp.d_ff})")
    return " ".join(parts)
