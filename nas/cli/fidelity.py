"""``nas fidelity STUDY.yaml``: does the study's ranking hold at a longer budget?

Plumbing only: :func:`nas.study.run_fidelity` trains, :meth:`nas.db.Database.fidelity`
computes the figures; :func:`show` prints them here and for ``nas db fidelity``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nas.cli._output import add_format, emit
from nas.cli.run import add_study_flags
from nas.errors import UserError

if TYPE_CHECKING:
    from nas.db import FidelityResult

_LEVEL_STYLE = {
    "stable": "green",
    "uncertain": "yellow",
    "unstable": "red",
    "insufficient": "yellow",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fidelity",
        help="check that a study's ranking survives a longer budget (rank correlation, seeds, fronts)",
        description=(
            "Train the study's architectures (its complete trials, else a stratified sample of "
            "its space) at its budget and at FACTOR times it, with K seeds, as two companion "
            "studies in the same database (cached, resumable: rerun the same command to resume), "
            "then print Spearman rho and Kendall tau between the two budgets with bootstrap 95% "
            "intervals, seed-to-seed agreement, the Pareto-front overlap and a verdict. "
            "`nas db fidelity STUDY` shows the stored result again."
        ),
    )
    add_study_flags(parser)
    parser.add_argument(
        "--factor", type=float, default=4.0, metavar="F",
        help="the longer budget: every budget amount (steps, tokens, flops) times F (default 4)",
    )  # fmt: skip
    parser.add_argument(
        "--architectures", type=_architectures, metavar="N|all",
        help="architectures to train (default: up to 12, every family and ratio of a sample)",
    )  # fmt: skip
    parser.add_argument(
        "--seeds",
        type=int,
        default=2,
        metavar="K",
        help="training seeds per architecture (default 2)",
    )
    add_format(parser)
    parser.set_defaults(handler=_fidelity)


def _architectures(text: str) -> int | str:
    if text == "all":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"give a number or 'all', got {text!r}") from None


def _fidelity(args: argparse.Namespace) -> int:
    import logging

    from nas.study import Display, load_study, run_fidelity

    config = load_study(args.study).with_overrides(
        storage=args.storage, ray_address=args.ray_address, workers=args.workers
    )
    logging.getLogger("optuna").setLevel(logging.WARNING)
    run = run_fidelity(
        config,
        factor=args.factor,
        architectures=args.architectures,
        seeds=args.seeds,
        display=Display(args.progress),
    )
    if run.results is None:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    show(run.results, args.format)
    return 0


def show(results: Sequence[FidelityResult], fmt: str, out: str | None = None) -> None:
    """Print ``results`` as tables (verdict first), JSON (everything), or one row per
    comparison and target in CSV, markdown or Parquet (nas.cli._output); ``out`` writes
    to a file instead."""
    if fmt == "table":
        if out:
            raise UserError("--out writes a file: add --format csv, json or parquet")
        for result in results:
            _print_result(result)
        return
    if fmt != "json":
        import pandas as pd

        frames = [
            r.rows.drop(columns=["line"]).assign(
                study=r.study, kind=r.kind, check=r.check, low=r.low, high=r.high, factor=r.factor
            )
            for r in results
        ]
        frame = pd.concat(frames, ignore_index=True)
        first = ["study", "kind", "check", "low", "high", "factor"]
        frame = frame[first + [c for c in frame.columns if c not in first]]
        emit(frame, argparse.Namespace(format=fmt, out=out))
        return
    text = json.dumps([r.to_dict() for r in results], indent=2) + "\n"
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)


def _print_result(result: FidelityResult) -> None:
    from rich.table import Table

    from nas.cli.arch import console

    screen = console()
    seeds = ", ".join(map(str, result.seeds))
    screen.print(
        f"\n[bold]{result.title}[/bold]: {len(result.architectures)} architectures, seeds {seeds}",
        highlight=False,
    )
    screen.print(result.verdict.line, style=_LEVEL_STYLE[result.verdict.level], markup=False)
    table = Table(title="rank agreement", title_justify="left")
    for name, justify in (("target", "left"), ("n", "right"), ("Spearman rho [95%]", "left"),
                          ("Kendall tau [95%]", "left"), (f"seeds rho\n{result.low}", "right"),
                          (f"seeds rho\n{result.high}", "right"), (f"± (sem)\n{result.low}", "right"),
                          (f"± (sem)\n{result.high}", "right"), ("verdict", "left")):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in result.rows.itertuples(index=False):
        table.add_row(
            row.target, str(row.n),
            _interval(row.spearman, row.spearman_low, row.spearman_high),
            _interval(row.kendall, row.kendall_low, row.kendall_high),
            _number(row.seeds_low), _number(row.seeds_high), _number(row.sem_low, 3),
            _number(row.sem_high, 3), row.verdict,
        )  # fmt: skip
    screen.print(table)
    archs = result.architectures
    names = {row.arch_hash: f"{row.layout} d{_d_state(row.d_state)}" for row in archs.itertuples()}
    front = result.front
    parts = [f"Pareto front: {front}"]
    if front.left:
        parts.append("left: " + ", ".join(names.get(h, h) for h in front.left))
    if front.joined:
        parts.append("joined: " + ", ".join(names.get(h, h) for h in front.joined))
    screen.print("; ".join(parts), highlight=False, markup=False)
    shown = Table(title="architectures, by capability at " + result.high, title_justify="left")
    for name in ("layout", "family", "ratio", "d_state", result.low, result.high, "rank", "front"):
        shown.add_column(name, justify="left" if name in ("layout", "family", "ratio") else "right")
    for row in archs.itertuples(index=False):
        shown.add_row(
            row.layout, row.family, row.ratio, _d_state(row.d_state),
            _mean(row.capability_low, row.sem_low), _mean(row.capability_high, row.sem_high),
            f"{row.rank_low:.0f} -> {row.rank_high:.0f}",
            _marks(row.front_low, row.front_high),
        )  # fmt: skip
    screen.print(shown)
    if result.missing:
        screen.print(
            f"{len(result.missing)} architectures left out (not measured at both fidelities): "
            + ", ".join(result.missing[:6]) + (" ..." if len(result.missing) > 6 else ""),
            highlight=False,
        )  # fmt: skip


def _interval(value: float, low: float, high: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:.2f}" if math.isnan(low) else f"{value:.2f} [{low:.2f}, {high:.2f}]"


def _number(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _mean(mean: float, sem: float) -> str:
    return f"{mean:.3f}" if sem is None or math.isnan(sem) else f"{mean:.3f} ± {sem:.3f}"


def _d_state(value: Any) -> str:
    import pandas as pd

    return "-" if pd.isna(value) else str(int(value))


def _marks(low: bool, high: bool) -> str:
    """Front membership at the lower and higher fidelity: ``*`` on it, ``.`` not."""
    return ("*" if low else ".") + " -> " + ("*" if high else ".")
