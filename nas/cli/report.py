"""``nas report STUDY -o report.html [--png DIR]``: a self-contained HTML report of a study."""

from __future__ import annotations

import argparse
import os

from nas.cli.db import DEFAULT_STORAGE, STORAGE_ENV


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write a study's HTML report (Pareto front, ratios, state size, tasks, curves, ...)",
        description="Write one self-contained HTML page (figures inline, opens offline) about a study.",
    )
    parser.add_argument("study", metavar="STUDY")
    parser.add_argument(
        "-o", "--out", default="report.html", metavar="FILE", help="default: report.html"
    )
    parser.add_argument("--png", metavar="DIR", help="also write each figure as a PNG file in DIR")
    parser.add_argument(
        "--context",
        type=int,
        metavar="TOKENS",
        help="context length of the state-bytes plot (default: the study's own)",
    )
    parser.add_argument(
        "--storage",
        metavar="URL",
        default=os.environ.get(STORAGE_ENV, DEFAULT_STORAGE),
        help=f"database URL (default: ${STORAGE_ENV}, else {DEFAULT_STORAGE})",
    )
    parser.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from nas.db import Database
    from nas.report import build_report

    with Database(args.storage) as db:
        report = build_report(db, args.study, context=args.context)
    path = report.write_html(args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    if args.png:
        for written in report.write_pngs(args.png):
            print(f"wrote {written}")
    return 0
