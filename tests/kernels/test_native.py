"""kernels._native: building the cpu backend's C sources, caching them, and saying why not."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernels import _native
from kernels.ssd.cpu import SOURCE


def test_build_once_then_reuse(tmp_path: Path) -> None:
    first = _native.build_into(SOURCE, tmp_path)
    stamp = first.stat().st_mtime_ns
    assert first.parent == tmp_path and first.name.startswith("cpu-") and first.suffix == ".so"
    assert _native.build_into(SOURCE, tmp_path) == first and first.stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob("*.partial"))  # no temporary file left behind


def test_a_failing_compiler_is_a_build_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CC", "false")  # exists, always fails
    with pytest.raises(_native.NativeBuildError, match=r"false -O3 .* failed on cpu\.c"):
        _native.build_into(SOURCE, tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_cache_that_is_a_file_is_a_build_error(tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("not a folder")
    with pytest.raises(_native.NativeBuildError, match="cannot write the kernel cache"):
        _native.build_into(SOURCE, tmp_path / "cache")
