"""Suite-wide settings: Triton's CPU interpreter, and the PostgreSQL server for tests that need one."""

from __future__ import annotations

import os

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
