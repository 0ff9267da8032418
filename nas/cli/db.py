"""``nas db studies|trials|pareto|show|arch|compare|fidelity|columns|export|sql|delete``.

Every command but ``delete`` reads through :class:`nas.db.Database`, whose connections
are read-only. pandas and the query code load inside the handlers, so that building the
parser costs nothing for other commands.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nas.cli._output import add_format, emit, note, wants_table
from nas.errors import UserError

if TYPE_CHECKING:
    from nas.db import Database

STORAGE_ENV = "NAS_STORAGE"
# The quickstart's database, as `nas run` writes it by default (a test keeps them equal).
DEFAULT_STORAGE = "sqlite:///runs/quickstart.db"
_WHERE_HELP = """\
--where language: comparisons (== != < <= > >=), and/or/not, parentheses, + - * /,
  IN [..], NOT IN [..], IS [NOT] NULL, CONTAINS 'text', MATCHES 'regex'.
  Quote column names holding other characters in backticks: `cap.mqar:filler=2` > 0.5
  e.g. "d_state >= 16 and family == 'hybrid' and ratio in ['3:1', '7:1']"
--sort: comma-separated columns, '-' for descending: --sort -capability,params
`nas db columns STUDY` lists the columns."""


class _Parser(argparse.ArgumentParser):
    """Lets ``--sort -capability`` through: argparse would take ``-capability`` for a flag."""

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:
        args = list(sys.argv[1:] if args is None else args)
        merged: list[str] = []
        for arg in args:
            if merged and merged[-1] == "--sort" and arg.startswith("-") and arg != "--":
                merged[-1] = f"--sort={arg}"
            else:
                merged.append(arg)
        return super().parse_known_args(merged, namespace)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "db",
        help="query study databases: studies, trials, Pareto fronts, exports, SQL",
        description="Queries over the database `nas run` writes; every one is read-only but "
        "`upgrade` and `delete`.",
    )
    actions = parser.add_subparsers(
        dest="db_command", metavar="ACTION", required=True, parser_class=_Parser
    )

    def action(name: str, help: str, handler: Any, where: bool = False) -> argparse.ArgumentParser:
        sub = actions.add_parser(
            name, help=help, description=help, epilog=_WHERE_HELP if where else None
        )
        sub.add_argument(
            "--storage",
            metavar="URL",
            default=os.environ.get(STORAGE_ENV, DEFAULT_STORAGE),
            help=f"database URL (default: ${STORAGE_ENV}, else {DEFAULT_STORAGE})",
        )
        sub.set_defaults(handler=handler)
        return sub

    add_format(action("studies", "list the studies with trial counts and objectives", _studies))

    trials = action(
        "trials", "a study's trials: one row per architecture, or per trial", _trials, where=True
    )
    trials.add_argument("study", metavar="STUDY")
    _add_query_flags(trials)
    trials.add_argument(
        "--sort", action="append", metavar="COLUMNS", help="e.g. -capability,params"
    )
    trials.add_argument("--limit", type=_positive_int, metavar="N", help="the first N rows")
    _add_each_trial(trials)
    add_format(trials, out=True)

    pareto = action("pareto", "the Pareto front of a study's complete trials", _pareto, where=True)
    pareto.add_argument("study", metavar="STUDY")
    pareto.add_argument(
        "--objective",
        action="append",
        metavar="COLUMN:max|min",
        help="take the front over these columns instead of the study's objectives (repeat it)",
    )
    _add_query_flags(pareto)
    _add_each_trial(pareto)
    add_format(pareto, out=True)

    show = action("show", "everything about one trial, with its learning curves", _show)
    show.add_argument("study", metavar="STUDY")
    show.add_argument("trial", metavar="TRIAL", type=int, help="the trial number")
    add_format(show)

    arch = action("arch", "every evaluation of one architecture, across studies", _arch)
    arch.add_argument(
        "arch_hash", metavar="HASH", help="architecture hash (a unique prefix will do)"
    )
    add_format(arch, out=True)

    compare = action("compare", "the Pareto fronts of two studies, side by side", _compare)
    compare.add_argument("study_a", metavar="A")
    compare.add_argument("study_b", metavar="B")
    add_format(compare, out=True)

    fidelity = action(
        "fidelity",
        "how far a study's ranking holds at a longer budget (nas fidelity) or between its "
        "multi-fidelity levels",
        _fidelity,
    )
    fidelity.add_argument("study", metavar="STUDY")
    fidelity.add_argument("--check", metavar="ID", help="an earlier check (default: the latest)")
    add_format(fidelity, out=True)

    columns = action(
        "columns", "the columns --where, --sort and --columns can use: type, meaning", _columns
    )
    columns.add_argument("study", metavar="STUDY")
    add_format(columns)

    export = action("export", "write a study's trials to CSV, JSON or Parquet", _export, where=True)
    export.add_argument("study", metavar="STUDY")
    export.add_argument("--out", required=True, metavar="FILE", help=".csv, .json or .parquet")
    export.add_argument(
        "--format", choices=("csv", "json", "parquet"), help="default: FILE's suffix"
    )
    _add_query_flags(export)
    _add_each_trial(export, default_each=True)

    sql = action("sql", "run one read-only SQL statement", _sql)
    sql.add_argument("statement", metavar="SQL")
    add_format(sql, out=True)

    action(
        "upgrade",
        "bring the nas tables to this version's schema (back the database up first)",
        _upgrade,
    )

    delete = action("delete", "delete a study's trials (asks for confirmation)", _delete)
    delete.add_argument("study", metavar="STUDY")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")


def _add_each_trial(parser: argparse.ArgumentParser, default_each: bool = False) -> None:
    """--each-trial / --by-architecture: whether trials of one architecture fold into a row."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--each-trial",
        dest="each_trial",
        action="store_true",
        default=default_each,
        help="one row per trial"
        + (" (the default)" if default_each else ", repeated architectures included"),
    )
    group.add_argument(
        "--by-architecture",
        dest="each_trial",
        action="store_false",
        help="one row per architecture and state, n_trials counting its trials"
        + ("" if default_each else " (the default)"),
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_query_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--where", metavar="EXPR", help="keep the rows where EXPR holds (see below)"
    )
    parser.add_argument(
        "--columns", metavar="A,B,...", help="columns to show, comma-separated; 'all' for every one"
    )


def _open(args: argparse.Namespace) -> Database:
    from nas.db import Database

    return Database(args.storage)


def _columns_arg(args: argparse.Namespace, db: Database, study: str) -> list[str] | None:
    """--columns as a list. Without it a table shows the summary columns and the other
    formats every column (None)."""
    if args.columns == "all":
        return None
    if args.columns:
        return [name.strip() for name in args.columns.split(",") if name.strip()]
    return db.summary_columns(study) if wants_table(args) else None


def _sort_arg(values: Sequence[str] | None) -> list[str]:
    return [key.strip() for value in values or [] for key in value.split(",") if key.strip()]


# -- handlers ---------------------------------------------------------------------------------
def _studies(args: argparse.Namespace) -> int:
    with _open(args) as db:
        frame = db.studies()
    emit(frame, args, title=f"studies in {_masked(args.storage)}")
    return 0


def _trials(args: argparse.Namespace) -> int:
    with _open(args) as db:
        columns = _columns_arg(args, db, args.study)
        frame = db.trials(
            args.study,
            where=args.where,
            columns=columns,
            sort=_sort_arg(args.sort),
            limit=args.limit,
            by_architecture=not args.each_trial,
        )
    per = "trials" if args.each_trial else "architectures"
    emit(frame, args, title=f"{per} of {args.study}")
    return 0


def _pareto(args: argparse.Namespace) -> int:
    objectives = None
    if args.objective:
        objectives = {}
        for item in args.objective:
            name, _, direction = item.rpartition(":")
            goal = {"max": "maximize", "min": "minimize"}.get(direction, direction)
            if not name or goal not in ("maximize", "minimize"):
                raise UserError(f"--objective {item!r}: write COLUMN:max or COLUMN:min")
            objectives[name] = goal
    with _open(args) as db:
        columns = _columns_arg(args, db, args.study)
        frame = db.pareto(
            args.study,
            objectives=objectives,
            where=args.where,
            columns=columns,
            by_architecture=not args.each_trial,
        )
    emit(frame, args, title=f"Pareto front of {args.study}")
    return 0


_SHOWN_RUN = ("evaluation_id", "task_label", "seed", "fidelity", "status", "capability",
              "wall_s", "device", "backend", "error")  # fmt: skip
_NOT_FACTS = ("spec_json", "n_trials")  # the JSON is long; one trial is one trial
_SHOWN_POINT = ("task", "seed", "step", "tokens", "flops", "loss", "capability")


def _show(args: argparse.Namespace) -> int:
    """json: everything, nested; csv: one row per evaluation (a CSV file holds one table);
    table and markdown: the trial's facts, its evaluations and its learning curves."""
    import json

    import pandas as pd

    with _open(args) as db:
        detail = db.trial(args.study, args.trial)
    if args.format == "json":
        print(json.dumps(detail, indent=2, default=str))
        return 0
    runs = pd.DataFrame(detail["evaluations"])
    if args.format == "csv":
        metrics = pd.json_normalize(runs.pop("metrics").tolist()) if "metrics" in runs else None
        flat = runs.drop(columns=[c for c in ("curve", "clean", "versions", "budget") if c in runs])
        if metrics is not None:
            flat = flat.join(metrics.add_prefix("metrics."))
        emit(flat.assign(number=args.trial), args)
        return 0
    facts = pd.DataFrame(
        [(k, v) for k, v in detail["trial"].items() if k not in _NOT_FACTS and v is not None],
        columns=["field", "value"],
    )
    facts["value"] = [_fact(k, v) for k, v in zip(facts["field"], facts["value"], strict=True)]
    emit(facts, args, title=f"trial {args.trial} of {args.study}")
    if runs.empty:
        note("no evaluations recorded for this trial", args)
        return 0
    emit(runs[[c for c in _SHOWN_RUN if c in runs]], args, title="evaluations")
    points = [
        {"task": run["task_label"], "seed": run["seed"], **point}
        for run in detail["evaluations"]
        for point in run.get("curve") or []
    ]
    if points:
        curve = pd.DataFrame(points)
        emit(curve[[c for c in _SHOWN_POINT if c in curve]], args, title="learning curves")
    return 0


def _fact(key: str, value: Any) -> str:
    from nas.cli._output import cell

    return cell(key, value, markup=False)


def _arch(args: argparse.Namespace) -> int:
    with _open(args) as db:
        info = db.architecture(args.arch_hash)
        frame = db.evaluations(info["arch_hash"])
    spec = info["spec"] or {}
    used = ", ".join(f"{t['study']}#{t['number']}" for t in info["trials"][:12])
    more = f" (+{len(info['trials']) - 12} more)" if len(info["trials"]) > 12 else ""
    note(
        f"architecture {info['arch_hash']}: layout {spec.get('layout')}, d_model "
        f"{spec.get('d_model')}; {len(info['trials'])} trials: {used}{more}",
        args,
    )
    emit(frame, args, title=f"evaluations of {info['arch_hash']}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    with _open(args) as db:
        frame = db.compare(args.study_a, args.study_b)
    for study, other in ((args.study_a, args.study_b), (args.study_b, args.study_a)):
        rows = frame[frame["study"] == study]
        beaten = int(rows["dominated_by_other"].sum())
        note(
            f"{study}: {len(rows)} architectures on its front, {beaten} of them dominated by "
            f"{other}'s front; {int(rows['on_joint_front'].sum())} on the joint front",
            args,
        )
    emit(frame, args, title=f"Pareto fronts of {args.study_a} and {args.study_b}")
    return 0


def _fidelity(args: argparse.Namespace) -> int:
    from nas.cli.fidelity import show

    with _open(args) as db:
        results = db.fidelity(args.study, check=args.check)
    show(results, args.format, args.out)
    return 0


def _columns(args: argparse.Namespace) -> int:
    with _open(args) as db:
        frame = db.describe_columns(args.study)
    emit(frame, args, title=f"columns of {args.study}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from nas.db import format_for, write_frame

    fmt = format_for(args.out, args.format)
    with _open(args) as db:
        columns = None if args.columns in (None, "all") else _sort_arg([args.columns])
        frame = db.trials(
            args.study, where=args.where, columns=columns, by_architecture=not args.each_trial
        )
    write_frame(frame, args.out, fmt)
    print(f"wrote {len(frame)} trials of {args.study} to {args.out}", file=sys.stderr)
    return 0


def _sql(args: argparse.Namespace) -> int:
    with _open(args) as db:
        frame = db.sql(args.statement)
    emit(frame, args)
    return 0


def _delete(args: argparse.Namespace) -> int:
    from nas.db import delete_study

    with _open(args) as db:
        summary = db.studies()
        if args.study not in set(summary["study"]):
            db.objectives(args.study)  # raises the unknown-study error, with did-you-mean
        n_trials = int(summary.loc[summary["study"] == args.study, "n_trials"].iloc[0])
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError(f"not deleting study {args.study!r} without confirmation: add --yes")
        answer = input(f"delete study {args.study!r} and its {n_trials} trials? type its name: ")
        if answer.strip() != args.study:
            print("not deleted", file=sys.stderr)
            return 1
    delete_study(args.storage, args.study)
    print(
        f"deleted study {args.study!r} ({n_trials} trials); architectures and evaluations stay as cache"
    )
    return 0


def _upgrade(args: argparse.Namespace) -> int:
    from nas.db import upgrade_database

    before, after = upgrade_database(args.storage)
    where = _masked(args.storage)
    if before == after:
        print(f"{where}: the nas tables are at version {after} already; nothing to do")
    elif before is None:
        print(f"{where}: created the nas tables (version {after})")
    else:
        print(f"{where}: upgraded the nas tables from version {before} to {after}")
    return 0


def _masked(url: str) -> str:
    from nas.db import masked

    return masked(url)
