"""Suite-wide settings: Triton's CPU interpreter, and the PostgreSQL server for tests that need one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

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
