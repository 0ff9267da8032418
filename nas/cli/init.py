"""``nas init [DIR]``: a new project folder with the shipped search spaces and studies."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "init",
        help="start a project: copy the shipped search spaces and studies into DIR",
        description="Write the search spaces and studies that ship with nas into DIR "
        "(default: the current folder) as search_spaces/ and studies/, to run and edit. "
        "Nothing is overwritten.",
    )
    parser.add_argument("directory", metavar="DIR", nargs="?", default=".")
    parser.set_defaults(handler=_init)


def _init(args: argparse.Namespace) -> int:
    from nas.examples import copy_examples

    written = copy_examples(args.directory)
    spaces = sum(1 for path in written if path.parent.name == "search_spaces")
    where = Path(args.directory)
    print(
        f"wrote {spaces} search spaces ({where / 'search_spaces'}) and "
        f"{len(written) - spaces} studies ({where / 'studies'})"
    )
    go = "" if args.directory == "." else f"cd {shlex.quote(args.directory)} && "
    print(f"next: {go}nas run studies/quickstart.yaml")
    return 0
