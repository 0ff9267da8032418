"""Writing query results as CSV, JSON or Parquet (to a file or, for text formats, stdout)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from nas.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("csv", "json", "parquet")
_SUFFIXES = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}


def format_for(path: str | Path, requested: str | None = None) -> str:
    """The export format: ``requested`` if given, else the one the file suffix names."""
    if requested is not None:
        if requested not in FORMATS:
            raise UserError(f"unknown format {requested!r}: use one of {', '.join(FORMATS)}")
        return requested
    found = _SUFFIXES.get(Path(path).suffix.lower())
    if found is None:
        raise UserError(
            f"cannot tell the format of {str(path)!r} from its suffix: name it .csv, .json or "
            ".parquet, or pass --format"
        )
    return found


def write_frame(frame: pd.DataFrame, path: str | Path | None, fmt: str) -> None:
    """Write ``frame`` in ``fmt`` to ``path`` (None: stdout; Parquet needs a file).

    JSON is a list of row objects with ISO-8601 times; nested values (lists, dicts) stay
    nested. Parquet stores nested values as JSON text, since its columns need one type.
    """
    if fmt == "parquet":
        if path is None:
            raise UserError("parquet is binary: give a file with --out FILE.parquet")
        _to_parquet(frame, Path(path))
        return
    if fmt not in ("csv", "json"):
        raise UserError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if path is None:
        _write_text(frame, sys.stdout, fmt)
        return
    with Path(path).open("w", encoding="utf-8", newline="") as target:
        _write_text(frame, target, fmt)


def _write_text(frame: pd.DataFrame, target: TextIO, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(target, index=False)
    else:
        frame.to_json(target, orient="records", date_format="iso", indent=1, force_ascii=False)
        target.write("\n")


def _to_parquet(frame: pd.DataFrame, path: Path) -> None:
    import json

    frame = frame.copy()
    for column in frame.columns:
        if (
            frame[column].dtype == object
            and frame[column].map(lambda v: isinstance(v, list | dict)).any()
        ):
            frame[column] = frame[column].map(
                lambda v: (
                    None if v is None else json.dumps(v) if isinstance(v, list | dict) else str(v)
                )
            )
    frame.to_parquet(path, index=False)
