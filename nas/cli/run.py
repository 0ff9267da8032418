"""``nas run STUDY.yaml``: create or resume a study and run it on Ray workers."""

from __future__ import annotations

import argparse
import logging

from nas.cli._output import console, print_table
from nas.study import (
    Display,
    RunResult,
    chance_lines,
    load_study,
    masked,
    pareto_table,
    parse_duration,
    run_study,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a study: trials on Ray workers, results in the SQL database (resumable)",
        description=(
            "Create or resume the study of STUDY.yaml and run it: architectures are trained "
            "on Ray workers and recorded in the study's database. Rerunning the same command "
            "resumes it; Ctrl-C stops cleanly. Flags override the file's settings."
        ),
    )
    add_study_flags(parser)
    parser.add_argument(
        "--n-trials", type=int, metavar="N", help="finished trials to reach in the study"
    )
    parser.add_argument(
        "--timeout", metavar="S", help="stop starting trials after this (seconds, or 90s, 5m, 2h)"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="retrain evaluations already in the database"
    )
    parser.set_defaults(handler=_run)


def add_study_flags(parser: argparse.ArgumentParser) -> None:
    """The study file and the flags every command that runs it takes (``nas run``,
    ``nas fidelity``): where its rows go, where it runs, how progress shows."""
    parser.add_argument("study", metavar="STUDY.yaml", help="the study file")
    parser.add_argument(
        "--storage", metavar="URL", help="database URL (sqlite:///... or postgresql+psycopg://...)"
    )
    parser.add_argument(
        "--ray-address", metavar="ADDR", help="join this Ray cluster instead of starting one"
    )
    parser.add_argument("--workers", type=int, metavar="N", help="evaluations running at once")
    parser.add_argument(
        "--progress",
        choices=("live", "lines", "quiet"),
        help="live view (default on a terminal), a line per trial (default otherwise), or nothing",
    )


def _run(args: argparse.Namespace) -> int:
    from nas.errors import UserError

    config = load_study(args.study)
    timeout = None
    if args.timeout is not None:
        try:
            timeout = parse_duration(args.timeout)
        except ValueError as error:
            raise UserError(f"--timeout: {error}") from None
    config = config.with_overrides(
        storage=args.storage,
        ray_address=args.ray_address,
        workers=args.workers,
        n_trials=args.n_trials,
        timeout=timeout,
        cache=False if args.no_cache else None,
    )
    logging.getLogger("optuna").setLevel(logging.WARNING)
    display = Display(args.progress)
    result = run_study(config, display=display)
    out = console()
    if result.best_trials:
        print_table(pareto_table(result), out)
        for line in _chance(config.storage, result):
            out.print(line, style="yellow", markup=False, highlight=False, soft_wrap=True)
    c = result.counts
    infeasible = f", {c.infeasible} infeasible (not trained)" if c.infeasible else ""
    out.print(
        f"{result.study_name}: {c.complete} complete, {c.pruned} pruned, {c.failed} failed"
        f"{infeasible} in {result.wall_s:.0f} s ({c.trained} evaluations trained, {c.cached} "
        f"cached, {c.stopped} stopped early) · {masked(config.storage)}",
        highlight=False,
        soft_wrap=True,
    )
    if result.gave_up:
        out.print(result.gave_up, style="yellow", markup=False, highlight=False)
    if result.interrupted:
        out.print("interrupted: run the same command again to resume", highlight=False)
        return 130
    return 0


def _chance(storage: str, result: RunResult) -> list[str]:
    """Lines naming the tasks on which architectures of the study are at chance level."""
    from nas.db import Database

    with Database(storage) as db:
        scores = db.task_scores(result.study_name)
    return chance_lines(scores, [t.number for t in result.best_trials])
