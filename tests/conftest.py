"""Suite-wide settings: Triton's CPU interpreter, and the PostgreSQL server for tests that need one."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

# Triton kernels run on CPU tensors through the interpreter; it must be set before triton.jit runs.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

POSTGRES_ENV = "NAS_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A SQLAlchemy URL of a PostgreSQL database tests may write to, e.g.
    ``postgresql+psycopg://postgres@127.0.0.1:5432/test``; .ci/run sets it when the server answers."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: no PostgreSQL server to test against")
    return url


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[tuple[str, str]]:
    """(URL, URL with a password) of a fresh database, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(postgres_url)
    name = f"nas_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name)
    try:
        yield (
            url.render_as_string(hide_password=False),
            url.set(password="s3cret-pw").render_as_string(hide_password=False),
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def zero_cost_quickstart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart study run end to end by ``nas run`` with workers that do not train
    (nas.study.bench's zero-cost evaluator): a folder with ``quickstart.db`` and
    ``run.out``, what ``nas run`` printed to stdout."""
    repo = Path(__file__).resolve().parents[1]
    folder = tmp_path_factory.mktemp("quickstart")
    text = (repo / "studies" / "quickstart.yaml").read_text()
    text = text.replace("space: ../search_spaces/", f"space: {repo}/search_spaces/")
    text = text.replace(
        "  cpus_per_trial: 1",
        "  cpus_per_trial: 1\n  evaluator: nas.study.bench:zero_cost_evaluate",
    )
    study = folder / "quickstart.yaml"
    study.write_text(text)
    url = f"sqlite:///{folder / 'quickstart.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "nas", "run", str(study), "--storage", url],
        check=True, capture_output=True, timeout=300, cwd=folder, text=True,
    )  # fmt: skip
    (folder / "run.out").write_text(done.stdout)
    return folder
