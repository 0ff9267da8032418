"""``nas bench kernels|train|study|db [ARGS...]``: the benchmark scripts, under one command.

Each target is the ``main`` of a benchmark module; the remaining arguments go to it unchanged
(``nas bench kernels --quick`` is ``python -m kernels.bench --quick``).
"""

from __future__ import annotations

import argparse
import importlib

_TARGETS = {
    "kernels": "kernels.bench",
    "train": "nas.proxy.bench",
    "study": "nas.study.bench",
    "db": "nas.db.bench",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench", help="run a benchmark script (kernels, train, study, db)"
    )
    parser.add_argument("target", choices=sorted(_TARGETS))
    parser.add_argument("args", nargs=argparse.REMAINDER, help="passed to the benchmark")
    parser.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    result = importlib.import_module(_TARGETS[args.target]).main(args.args)
    return result if isinstance(result, int) else 0
