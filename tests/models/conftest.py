"""Model tests run torch on one thread: the models are tiny, and on a busy 2-core machine two
threads contend so badly that a 1 s training loop takes 30 s or more."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
