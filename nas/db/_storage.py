"""Opening a study database: URL checks, read-only connections, masked URLs.

Reads go through connections that cannot write: SQLite is opened with ``mode=ro`` and
``PRAGMA query_only``; PostgreSQL sessions start with ``default_transaction_read_only``.
A SQLite path that does not exist is refused before SQLAlchemy runs, so no empty file
is ever created by a query.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from nas.errors import UserError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine


class StorageError(UserError):
    """A storage URL that does not lead to a readable study database."""


def parse_url(url: str) -> URL:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except ArgumentError:
        raise StorageError(
            f"storage {url!r} is not a database URL: use sqlite:///path/to/study.db or "
            "postgresql+psycopg://user@host/dbname"
        ) from None


def masked(url: str | URL) -> str:
    """The URL with its password replaced by ``***``, for printing and logging."""
    parsed = parse_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL (None for other backends); an in-memory URL is refused."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        raise StorageError(f"storage {masked(url)} is an in-memory database: it holds no study")
    if database.startswith("file:"):
        database = database[len("file:") :].split("?", 1)[0]
    return Path(database).expanduser()


def open_engine(url: str) -> Engine:
    """A read-only engine on ``url`` (SQLite, PostgreSQL or MySQL).

    Raises :class:`StorageError` for a malformed URL, a missing SQLite file or another
    backend.
    """
    from sqlalchemy import create_engine, event

    parsed = parse_url(url)
    path = sqlite_path(parsed)
    if path is not None:
        if not path.is_file():
            raise StorageError(
                f"no database at {path}: nothing was created. Run `nas run STUDY.yaml` first, "
                "or pass --storage with the URL the study was written to"
            )
        if not os.access(path, os.R_OK):
            raise StorageError(f"cannot read the database {path}: permission denied")
        target = f"sqlite:///file:{quote(str(path.resolve()))}?mode=ro&uri=true"
        engine = create_engine(target, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_query_only)
        return engine
    backend = parsed.get_backend_name()
    try:
        if backend == "postgresql":
            options = {"options": "-c default_transaction_read_only=on"}
            return create_engine(parsed, connect_args=options)
        if backend in ("mysql", "mariadb"):
            engine = create_engine(parsed)
            event.listen(engine, "connect", _mysql_read_only)
            return engine
    except ImportError as error:
        raise StorageError(
            f"storage {masked(parsed)}: its database driver is not installed ({error.name}); "
            "for PostgreSQL use postgresql+psycopg:// with `pip install psycopg[binary]`"
        ) from None
    raise StorageError(
        f"storage {masked(parsed)}: nas db reads SQLite, PostgreSQL and MySQL databases"
    )


def _mysql_read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION TRANSACTION READ ONLY")
    cursor.close()


def _sqlite_query_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only = ON")
    cursor.close()
