"""kernels._native: building the cpu backend's C sources, caching them, and saying why not."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kernels import _native, causal_conv1d
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


@pytest.mark.parametrize("threads", [2, 3])
def test_kernels_split_the_batch_over_threads(threads: int) -> None:
    """With several torch threads each op runs one part of the batch per thread; what sums
    over the batch (grad_A, grad_D, the dt bias, the conv weights) adds up the parts."""
    from kernels import bench

    before = torch.get_num_threads()
    try:
        for op in bench.OPS:
            inputs = bench.make_inputs(
                op, 70, shape={"batch": 5, "dim": 32, "heads": 2, "headdim": 16, "nstate": 4}
            )
            torch.set_num_threads(1)
            y_one, grads_one = bench.forward_backward(op, inputs, "cpu")
            torch.set_num_threads(threads)
            assert len(_native.batch_parts(5)) == threads
            y_many, grads_many = bench.forward_backward(op, inputs, "cpu")
            torch.testing.assert_close(y_many, y_one)
            for name, grad in grads_one.items():
                torch.testing.assert_close(grads_many[name], grad, msg=name)
        x, w = torch.randn(5, 30, 20, requires_grad=True), torch.randn(20, 4, requires_grad=True)
        torch.set_num_threads(1)
        one = torch.autograd.grad(causal_conv1d(x, w, backend="cpu").sum(), [x, w])
        torch.set_num_threads(threads)
        many = torch.autograd.grad(causal_conv1d(x, w, backend="cpu").sum(), [x, w])
        for a, b in zip(one, many, strict=True):
            torch.testing.assert_close(a, b)
    finally:
        torch.set_num_threads(before)


def test_batch_parts_cover_the_batch_once() -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        assert _native.batch_parts(10) == [slice(0, 2), slice(2, 5), slice(5, 7), slice(7, 10)]
        assert _native.batch_parts(2) == [slice(0, 1), slice(1, 2)]
    finally:
        torch.set_num_threads(before)
