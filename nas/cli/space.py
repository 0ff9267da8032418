"""``nas space validate|show|sample|grid``: search-space files from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table

from nas.arch import ArchSpec
from nas.cli.arch import add_figure_flags, arch_record, arch_table, console
from nas.compute import estimate
from nas.space import SpaceError, load_space

# compute figures shown in architecture tables -> column header (--json has them all)
_TABLE_FIGURES = {
    "params": "params",
    "train_flops_per_token": "FLOPs/token",
    "state_bytes": "state",
}
_SHOW_GRID_LIMIT = 20_000  # `show` counts distinct architectures up to this many grid points
_SHOW_LAYOUTS = 8


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "space", help="validate, show, sample and enumerate search spaces"
    )
    actions = parser.add_subparsers(dest="space_command", metavar="ACTION", required=True)

    validate = actions.add_parser(
        "validate",
        help="check search-space files; print every problem as file:line:col: key: message",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(handler=_validate)

    show = actions.add_parser(
        "show", help="a space's parameters, the size of its discrete part and example layouts"
    )
    show.add_argument("file", metavar="FILE")
    show.set_defaults(handler=_show)

    sample = actions.add_parser("sample", help="random feasible architectures with compute figures")
    sample.add_argument("file", metavar="FILE")
    sample.add_argument("-n", type=int, default=5, help="how many (default 5)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    add_figure_flags(sample)
    sample.set_defaults(handler=_sample)

    grid = actions.add_parser(
        "grid", help="every feasible architecture of a finite space, deduplicated by hash"
    )
    grid.add_argument("file", metavar="FILE")
    grid.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    add_figure_flags(grid)
    grid.set_defaults(handler=_grid)


def _validate(args: argparse.Namespace) -> int:
    out = console()
    failed = 0
    for file in args.files:
        try:
            space = load_space(file)
            space.sample(1, seed=0)  # a space none of whose architectures is feasible is an error
        except SpaceError as error:
            failed += 1
            print(str(error), file=sys.stderr)
            continue
        size = _count(space.discrete_size, "grid point") if space.is_finite else "continuous"
        out.print(
            f"[green]OK[/] {escape(file)}  ({escape(space.name)}: "
            f"{_count(len(space.searched), 'searched parameter')}, {size}, "
            f"{_count(len(space.constraints), 'constraint')})"
        )
    if failed:
        print(f"{failed} of {len(args.files)} files have problems", file=sys.stderr)
    return 2 if failed else 0


def _show(args: argparse.Namespace) -> int:
    space = load_space(args.file)
    out = console()
    out.print(f"[bold]{escape(space.name)}[/]  ({escape(str(space.path))})")
    if space.description:
        out.print(escape(space.description))

    table = Table(title="parameters")
    for column in ("parameter", "values", "asked when"):
        table.add_column(column)
    unused = []
    for param in space.params.values():
        if not param.used:
            unused.append(param.name)
            continue
        value = escape(param.describe())
        if param.location is None:
            value = f"[dim]{value} (default)[/]"
        elif not param.is_fixed:
            value = f"[bold]{value}[/]"
        condition = "fixed" if param.is_fixed else (param.condition or "always")
        table.add_row(param.name, value, escape(condition))
    out.print(table)
    if unused:
        out.print(f"[dim]never read by this space's layouts: {', '.join(unused)}[/]")

    out.print(f"searched parameters: {len(space.searched)}")
    continuous = [p.name for p in space.searched if not p.is_finite]
    out.print(f"discrete part: {space.discrete_size} grid points (GridSampler)")
    if continuous:
        out.print(f"continuous: {', '.join(continuous)} (not finite: sample it, no grid)")
    elif space.discrete_size <= _SHOW_GRID_LIMIT:
        out.print(f"distinct feasible architectures: {len(space.grid())}")

    extra = len(space.layouts) - _SHOW_LAYOUTS
    out.print(f"layouts: {len(space.layouts)}")
    for layout in space.layouts[:_SHOW_LAYOUTS]:
        out.print(f"  {layout}")
    if extra > 0:
        out.print(f"  ... and {extra} more")
    if space.constraints:
        out.print("constraints:")
        for constraint in space.constraints:
            out.print(f"  {escape(constraint.text)}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    space = load_space(args.file)
    archs = space.sample(args.n, seed=args.seed)
    _print_archs(archs, args, f"{len(archs)} samples of {space.name} (seed {args.seed})")
    return 0


def _grid(args: argparse.Namespace) -> int:
    space = load_space(args.file)
    archs = space.grid()
    title = (
        f"{space.name}: {len(archs)} distinct feasible architectures "
        f"({space.discrete_size} grid points)"
    )
    _print_archs(archs, args, title)
    return 0


def _print_archs(archs: Sequence[ArchSpec], args: argparse.Namespace, title: str) -> None:
    figures = [estimate(a, seq_len=args.seq_len, context=args.context).to_dict() for a in archs]
    if args.json:
        print(
            json.dumps([arch_record(a, f) for a, f in zip(archs, figures, strict=True)], indent=2)
        )
        return
    caption = (
        f"training FLOPs/token at seq_len {args.seq_len}; state bytes at context {args.context}"
    )
    console().print(arch_table(archs, figures, title, _TABLE_FIGURES, caption))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
