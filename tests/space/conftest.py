"""Helpers for search-space tests: write YAML files and load them, or collect their problems."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from nas.space import SearchSpace, SpaceError, load_space


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """``write(text, name="space.yaml")`` -> the path of a file holding the dedented text."""

    def _write(text: str, name: str = "space.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def space_of(write: Callable[..., Path]) -> Callable[[str], SearchSpace]:
    """``space_of(text)`` -> the SearchSpace of that YAML text."""
    return lambda text, **kwargs: load_space(write(text), **kwargs)


@pytest.fixture
def problems_of(write: Callable[..., Path]) -> Callable[[str], list[str]]:
    """``problems_of(text)`` -> the problem lines load_space reports, with the file name
    shortened to ``space.yaml``."""

    def _problems(text: str, **kwargs: object) -> list[str]:
        path = write(text)
        with pytest.raises(SpaceError) as info:
            load_space(path, **kwargs)
        return [str(p).replace(str(path), "space.yaml") for p in info.value.problems]

    return _problems
