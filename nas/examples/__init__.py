"""The search spaces and studies that ship with nas, for users who installed it with pip.

``search_spaces/`` and ``studies/`` here link to the repository's top-level folders of the
same names, so the wheel carries the very files the repository's tests load (one copy,
not two). ``nas init DIR`` copies both folders into a project of one's own, where the
studies find their spaces as in the repository (``space: ../search_spaces/x.yaml``); a
study file anywhere may also name a shipped space alone (``space: quickstart``).

Example:
    >>> sorted(shipped_spaces())
    ['base', 'hybrid_ratio', 'nemotron_like', 'quickstart', 'state_size']
    >>> shipped_space("quickstart").name
    'quickstart.yaml'
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nas.errors import UserError

ROOT = Path(__file__).resolve().parent
FOLDERS = ("search_spaces", "studies")


def shipped_spaces() -> dict[str, Path]:
    """The shipped search spaces: name (file name without .yaml) -> file."""
    return {path.stem: path for path in sorted((ROOT / "search_spaces").glob("*.yaml"))}


def shipped_space(name: str) -> Path | None:
    """The shipped space called ``name`` (``quickstart`` or ``quickstart.yaml``), or None."""
    return shipped_spaces().get(name.removesuffix(".yaml"))


def copy_examples(directory: str | Path) -> list[Path]:
    """Copy ``search_spaces/`` and ``studies/`` into ``directory`` (made if missing) and
    return the files written. Nothing is overwritten: if either folder is there already,
    nothing is written and a :class:`~nas.errors.UserError` says so."""
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise UserError(f"{target} is a file: give nas init a folder")
    taken = [target / name for name in FOLDERS if (target / name).exists()]
    if taken:
        shown = " and ".join(str(path) for path in taken)
        raise UserError(f"{shown} already exist{'s' if len(taken) == 1 else ''}: nas init "
                        "writes into a new folder and overwrites nothing; give another DIR")  # fmt: skip
    written = []
    for name in FOLDERS:
        for source in sorted((ROOT / name).glob("*.yaml")):
            (target / name).mkdir(parents=True, exist_ok=True)
            written.append(Path(shutil.copyfile(source, target / name / source.name)))
    return written
