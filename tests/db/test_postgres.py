"""The query API reads a PostgreSQL study exactly as it reads the same study on SQLite."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nas.db import Database
from nas.db.synthetic import write_synthetic

pytestmark = pytest.mark.postgres


@pytest.fixture
def twins(pg_database: tuple[str, str], tmp_path: Path) -> tuple[Database, Database]:
    """One synthetic study (same seed, fixed clock) written to PostgreSQL and to SQLite."""
    pg_url, _ = pg_database
    sqlite_url = f"sqlite:///{tmp_path / 'twin.db'}"
    for url in (pg_url, sqlite_url):
        write_synthetic(url, n_trials=80, study_name="twin", seed=5)
    return Database(pg_url), Database(sqlite_url)


def test_trials_frames_are_equal(twins: tuple[Database, Database]) -> None:
    postgres, sqlite = twins
    frame = postgres.trials("twin")
    assert len(frame) == 80 and frame["capability"].notna().any()
    pd.testing.assert_frame_equal(frame, sqlite.trials("twin"))
    where = "family == 'hybrid' and d_state >= 16"
    pd.testing.assert_frame_equal(
        postgres.trials("twin", where=where, sort="-capability", limit=7),
        sqlite.trials("twin", where=where, sort="-capability", limit=7),
    )


def test_fronts_details_and_studies_are_equal(twins: tuple[Database, Database]) -> None:
    postgres, sqlite = twins
    pd.testing.assert_frame_equal(postgres.pareto("twin"), sqlite.pareto("twin"))
    number = int(postgres.pareto("twin")["number"].iloc[0])
    assert postgres.trial("twin", number) == sqlite.trial("twin", number)
    columns = ["study", "n_trials", "complete", "pruned", "fail", "objectives"]
    pd.testing.assert_frame_equal(postgres.studies()[columns], sqlite.studies()[columns])
