"""The ``nas`` command: a thin shell over the toolkit's rooms.

Each sub-command group lives in its own module with a ``register(subparsers)`` function
that adds its parser and sets ``handler`` (a function taking the parsed namespace and
returning an exit code). Logic stays in the rooms; these modules parse and print.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from nas import __version__
from nas.cli._help import add_examples
from nas.errors import UserError

# module name under nas.cli -> registers one top-level sub-command (group)
_COMMAND_MODULES = (
    "init", "space", "arch", "train", "run", "fidelity", "db", "report", "bench", "completion",
)  # fmt: skip


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``nas`` parser. Given the command line, only the group it runs is imported, so
    that one group's heavy imports (torch, ray, optuna) never slow down another's."""
    chosen = _chosen_group(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="nas", description="Search hybrid SSM/attention language-model architectures."
    )
    parser.add_argument("--version", action="version", version=f"nas {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        if chosen is not None and name != chosen:
            continue
        importlib.import_module(f"nas.cli.{name}").register(subparsers)
    add_examples(parser)
    return parser


def _chosen_group(argv: Sequence[str]) -> str | None:
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in _COMMAND_MODULES else None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as error:
        print(f"error: {error}" if "\n" not in str(error) else str(error), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
