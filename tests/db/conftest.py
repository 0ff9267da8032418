"""A small synthetic study database, written once per session through the real schemas."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from nas.db.synthetic import write_synthetic

N_TRIALS = {"alpha": 300, "beta": 120}


@pytest.fixture(scope="session")
def synthetic_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two studies: ``alpha`` (300 trials) and ``beta`` (120), sharing architectures."""
    path = tmp_path_factory.mktemp("db") / "synthetic.db"
    url = f"sqlite:///{path}"
    write_synthetic(url, n_trials=N_TRIALS["alpha"], study_name="alpha", seed=1)
    write_synthetic(url, n_trials=N_TRIALS["beta"], study_name="beta", seed=2)
    return path


@pytest.fixture(scope="session")
def synthetic_url(synthetic_path: Path) -> str:
    return f"sqlite:///{synthetic_path}"


@pytest.fixture
def copy_url(synthetic_path: Path, tmp_path: Path) -> str:
    """A private copy of the synthetic database, for tests that write or corrupt it."""
    target = tmp_path / "copy.db"
    shutil.copy(synthetic_path, target)
    return f"sqlite:///{target}"


@pytest.fixture(scope="session")
def n_trials() -> dict[str, int]:
    return dict(N_TRIALS)


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    for suffix in ("", "-wal", "-shm", "-journal"):
        part = Path(f"{path}{suffix}")
        sha.update(part.read_bytes() if part.exists() else b"-")
    return sha.hexdigest()


@pytest.fixture(scope="session")
def digest():  # type: ignore[no-untyped-def]
    """Content hash of a database file and its WAL/SHM companions, to prove it untouched."""
    return _digest
