"""`nas db sql` is read-only: the guard refuses, and the connection could not write anyway."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from nas.db import Database, SQLRefused
from nas.db._readonly import check_read_only


@pytest.mark.parametrize(
    ("sql", "dialect", "expected"),
    [
        ("SELECT * FROM studies;", "sqlite", "SELECT * FROM studies"),
        ("select 'delete; drop' as a -- delete\n", "sqlite", "select 'delete; drop' as a"),
        ('SELECT "delete" FROM x', "sqlite", 'SELECT "delete" FROM x'),
        ("select replace(study_name, 'a', 'b') from studies", "sqlite", None),
        ("WITH t AS (SELECT 1) SELECT * FROM t", "postgresql", None),
        ("PRAGMA table_info(trials)", "sqlite", None),
        ("PRAGMA main.index_list(trials)", "sqlite", None),
        ("PRAGMA journal_mode", "sqlite", None),
        ("SELECT $$ delete $$", "postgresql", None),
        ("SELECT E'it\\'s; delete'", "postgresql", None),
        ("EXPLAIN ANALYZE SELECT 1", "postgresql", None),
        ("SELECT '%' LIKE 'a%'", "postgresql", None),
    ],
)
def test_allowed(sql: str, dialect: str, expected: str | None) -> None:
    assert check_read_only(sql, dialect) == (expected or sql.strip())


@pytest.mark.parametrize(
    ("sql", "dialect", "reason"),
    [
        ("DELETE FROM trials", "sqlite", "starting with 'DELETE'"),
        ("ATTACH DATABASE 'x.db' AS x", "sqlite", "starting with 'ATTACH'"),
        ("SELECT 1; DELETE FROM trials", "sqlite", "one statement at a time"),
        ("PRAGMA journal_mode=DELETE", "sqlite", "changes a setting"),
        ("PRAGMA journal_mode(wal)", "sqlite", "changes a setting"),
        ("PRAGMA query_only = 0", "sqlite", "PRAGMA query_only is refused"),
        ("PRAGMA writable_schema", "sqlite", "PRAGMA writable_schema is refused"),
        ("SELECT load_extension('x')", "sqlite", "load_extension"),
        ("VACUUM INTO 'copy.db'", "sqlite", "starting with 'VACUUM'"),
        ("WITH d AS (DELETE FROM trials RETURNING *) SELECT * FROM d", "postgresql", "'DELETE'"),
        ("SELECT * INTO t2 FROM trials", "postgresql", "'INTO'"),
        (
            "SELECT set_config('default_transaction_read_only', 'off', false)",
            "postgresql",
            "set_config",
        ),
        ("SET default_transaction_read_only = off", "postgresql", "starting with 'SET'"),
        ("SELECT pg_advisory_lock(1)", "postgresql", "pg_advisory_lock"),
        ("SELECT nextval('s')", "postgresql", "nextval"),
        ("SELECT * FROM trials FOR UPDATE", "postgresql", "'UPDATE'"),
        ("COPY trials TO '/tmp/x'", "postgresql", "starting with 'COPY'"),
        ("PRAGMA table_info(trials)", "postgresql", "not SQLite"),
        ("", "sqlite", "empty"),
        ("select 1 /* open", "sqlite", "unterminated"),
    ],
)
def test_refused(sql: str, dialect: str, reason: str) -> None:
    with pytest.raises(SQLRefused, match=reason.replace("(", r"\(")):
        check_read_only(sql, dialect)


def test_sqlite_connection_cannot_write_even_past_the_guard(
    synthetic_url: str, synthetic_path: Path, digest
) -> None:
    before = digest(synthetic_path)
    db = Database(synthetic_url)
    with db._engine.connect() as conn:  # the second layer: mode=ro and query_only
        with pytest.raises(OperationalError, match=r"readonly|read-only|query_only"):
            conn.execute(text("DELETE FROM trials"))
        with pytest.raises(OperationalError):
            conn.execute(text("CREATE TABLE x (a INT)"))
    assert digest(synthetic_path) == before


@pytest.fixture(scope="module")
def postgres_study(postgres_url: str):  # type: ignore[no-untyped-def]
    """A small synthetic study in a fresh PostgreSQL database, dropped afterwards."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from nas.db.synthetic import write_synthetic

    name = f"nas_db_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    try:
        write_synthetic(url, n_trials=60, study_name="pg", seed=3)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_postgres_queries_and_read_only_session(postgres_study: str) -> None:
    db = Database(postgres_study)
    frame = db.trials("pg", sort="-capability", limit=5)
    assert len(frame) == 5 and frame["capability"].is_monotonic_decreasing
    assert "cap.mqar:filler=2" in frame.columns and frame["gap.mqar:filler=2"].notna().any()
    assert len(db.pareto("pg")) > 0
    assert db.studies().set_index("study").loc["pg", "n_trials"] == 60
    detail = db.trial("pg", 0)
    assert detail["evaluations"] and detail["evaluations"][0]["curve"]
    assert len(db.trials("pg", where="d_state >= 16 and state == 'COMPLETE'")) > 0
    assert db.sql("SELECT COUNT(*) AS n FROM trials")["n"].iloc[0] == 60
    with pytest.raises(SQLRefused):
        db.sql("SELECT set_config('default_transaction_read_only', 'off', false)")
    # Past the guard, the session itself refuses to write.
    with db._engine.connect() as conn, pytest.raises(Exception, match="read-only transaction"):
        conn.execute(text("DELETE FROM trials"))
    assert db.sql("SELECT COUNT(*) AS n FROM trials")["n"].iloc[0] == 60


@pytest.mark.postgres
def test_postgres_delete_study(postgres_study: str) -> None:
    """Runs last in this module: deleting is the one write nas.db makes."""
    from nas.db import delete_study

    assert delete_study(postgres_study, "pg") == 60
    assert Database(postgres_study).study_names() == []
