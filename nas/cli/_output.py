"""How ``nas`` prints query results: one ``--format`` flag and one writer for every command.

``table`` is for people at a terminal: rich tables that keep every header and number whole
(a pipe gets the table's natural width, not rich's 80 columns). ``markdown`` is the same
cells for pasting into notes and issues. ``csv`` and ``json`` carry the raw values, every
column, for programs. A command adopts all of this with two calls::

    add_format(parser)                       # --format table|csv|json|markdown
    emit(frame, args, title="trials of x")   # prints in the chosen format
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import TYPE_CHECKING, Any

from nas.errors import UserError

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

FORMATS = ("table", "csv", "json", "markdown")
_FOLD = 40  # text cells longer than this fold onto several lines in a table


def add_format(
    parser: argparse.ArgumentParser, *, out: bool = False, default: str = "table"
) -> None:
    """Add ``--format table|csv|json|markdown`` (and, with ``out``, ``--out FILE`` and parquet)."""
    choices = (*FORMATS, "parquet") if out else FORMATS
    parser.add_argument(
        "--format",
        choices=choices,
        default=default,
        help="table (default; for people), markdown, or csv/json with every column"
        + (" (parquet with --out)" if out else ""),
    )
    if out:
        parser.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")


def wants_table(args: argparse.Namespace) -> bool:
    """Whether the chosen format is for people (a table or markdown): such output shows the
    summary columns by default and may carry a line of notes."""
    return getattr(args, "format", "table") in ("table", "markdown")


def emit(frame: pd.DataFrame, args: argparse.Namespace, title: str | None = None) -> None:
    """Print ``frame`` in ``args.format`` (to ``args.out`` when the command has one)."""
    from nas.db import write_frame

    out = getattr(args, "out", None)
    try:
        if args.format in ("table", "markdown"):
            if out:
                raise UserError("--out writes a file: add --format csv, json or parquet")
            if args.format == "table":
                print_frame(frame, title)
            else:
                print(markdown(frame, title), end="")
        else:
            write_frame(frame, out, args.format)
        sys.stdout.flush()
    except BrokenPipeError:  # `nas db ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def note(text: str, args: argparse.Namespace) -> None:
    """A line of prose beside a table (a markdown paragraph); nothing for csv and json."""
    if args.format == "table":
        console().print(text, markup=False)
    elif args.format == "markdown":
        print(f"{text}\n")


def console() -> Console:
    """The console of the current stdout (made per call, so that captured output works)."""
    from nas.cli.arch import console as arch_console

    return arch_console()


def print_frame(frame: pd.DataFrame, title: str | None = None) -> None:
    """``frame`` as a rich table: numbers right-aligned and whole, headers never wrapped."""
    from rich.table import Table

    table = Table(title=title, caption=f"{len(frame)} rows" if len(frame) != 1 else None)
    cells = [
        [cell(c, v) for c, v in zip(frame.columns, row, strict=True)]
        for row in frame.itertuples(index=False)
    ]
    out = console()
    widest = [
        max(len(str(column)), *(len(row[index]) for row in cells))
        for index, column in enumerate(frame.columns)
    ]
    # Columns are sized here, once, so that rich need not measure every cell again: whole
    # when the table fits the screen (or the pipe's 160 columns), else long text (layouts,
    # task specs, prose) folds at _FOLD characters; headers and numbers never do.
    fold = sum(w + 3 for w in widest) + 1 > out.width
    for index, column in enumerate(frame.columns):
        width = max(len(str(column)), min(widest[index], _FOLD)) if fold else widest[index]
        table.add_column(
            str(column), justify="right" if _numeric(frame[column]) else "left",
            width=width, no_wrap=width >= widest[index], overflow="fold",
        )  # fmt: skip
    for row in cells:
        table.add_row(*row)
    print_table(table, out)


def print_table(table: Table, out: Console | None = None) -> None:
    """Print a rich table at its natural width in a pipe, and never narrower than its headers
    and numbers need on a terminal (wider than the screen rather than squeezed)."""
    from rich.measure import Measurement

    out = out or console()
    for column in table.columns:  # a header is never broken over two lines
        header = str(column.header)
        column.min_width = max(column.min_width or 0, max(map(len, header.splitlines() or [""])))
    wide = out.options.update(width=10_000, max_width=10_000)
    measured = Measurement.get(out, wide, table)
    out.width = measured.maximum if not out.is_terminal else max(out.width, measured.minimum)
    out.print(table, soft_wrap=False)


def markdown(frame: pd.DataFrame, title: str | None = None) -> str:
    """``frame`` as a GitHub-flavoured markdown table with the table's cells (tabulate)."""
    shown = frame.copy()
    for column in shown.columns:
        shown[column] = [
            cell(column, value, markup=False).replace("|", "\\|") for value in frame[column]
        ]
    text = shown.to_markdown(index=False, disable_numparse=True, colalign=_align(frame))
    heading = f"**{title}**\n\n" if title else ""
    return f"{heading}{text}\n\n"


def _align(frame: pd.DataFrame) -> list[str]:
    return ["right" if _numeric(frame[c]) else "left" for c in frame.columns]


def _numeric(series: pd.Series) -> bool:
    return series.dtype.kind in "iuf" or str(series.dtype) in ("Int64", "Float64")


def cell(column: str, value: Any, markup: bool = True) -> str:
    """One cell for people: big counts in K/M/G (bytes in KiB/MiB/GiB), fractions to 4
    digits, times to the second, nothing for a missing value.

    >>> cell("state_bytes", 7360), cell("params", 209_000), cell("capability", 0.123456)
    ('7.19 KiB', '209K', '0.1235')
    """
    from rich.markup import escape

    from nas.cli.arch import format_figure

    if (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or str(value) in ("<NA>", "NaT")
    ):
        return ""
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float) or column == "number":
        text = str(value)[:19] if hasattr(value, "isoformat") else str(value)
        return escape(text) if markup else text
    if abs(value) >= 1e5 or "bytes" in column:  # one unit down a bytes column, not 7360 by 2 MiB
        return format_figure(column, value, short=True)
    return f"{value:.4g}" if isinstance(value, float) else str(value)
