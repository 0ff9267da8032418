"""kernels.bench and kernels.check: their code paths on CPU, at tiny sizes (no timing asserted)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from kernels import bench, check


def test_make_inputs_follow_each_op_signature() -> None:
    scan = bench.make_inputs("selective_scan", 10, shape={"groups": 2}, states=True)
    assert scan["u"].shape == (2, 256, 10) and scan["B"].shape == (2, 2, 16, 10)
    assert scan["delta_softplus"] and scan["return_last_state"]
    bare = bench.make_inputs("ssd", 10, full=False)
    assert set(bench.tensors_of(bare)) == {"x", "dt", "A", "B", "C"}
    assert (bare["dt"] > 0).all()  # no softplus in the op: step sizes come positive
    with pytest.raises(ValueError, match="op must be one of selective_scan, ssd"):
        bench.make_inputs("mamba3", 10)


def test_bytes_moved_counts_each_tensor_once_per_pass() -> None:
    inputs = bench.make_inputs("selective_scan", 8, shape={"batch": 1, "dim": 4, "nstate": 2})
    total = sum(t.numel() * 4 for t in bench.tensors_of(inputs).values())
    y = 1 * 4 * 8 * 4
    assert bench.bytes_moved(inputs, backward=False) == total + y
    assert bench.bytes_moved(inputs, backward=True) == 3 * total + 2 * y


def test_time_rows_compare_ours_with_every_baseline_and_skip_past_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bench, "REFERENCE_BUDGET_S", 1e-9)
    rows = bench.time_rows(torch.device("cpu"), (16, 32), (1,), lambda _: None)
    by_key = {(r["op"], r["length"], r["impl"]): r for r in rows}
    assert set(by_key) == {
        (op, n, impl)
        for op in bench.OPS
        for n in (16, 32)
        for impl in bench.implementations(op, torch.device("cpu"))
    }
    assert all(r["threads"] == 1 for r in rows)
    missing = bench.mambapy_missing()
    for op in bench.OPS:
        assert by_key[(op, 16, "cpu")]["fwd_bwd_ms"] > 0 and by_key[(op, 16, "loop")]["fwd_ms"] > 0
        skipped = by_key[(op, 32, "loop")]
        assert "fwd_ms" not in skipped and skipped["note"].startswith("skipped: projected")
    scan = by_key[("selective_scan", 16, "mambapy")]
    assert ("fwd_ms" in scan) == (missing is None)
    ratios = {(r["op"], r["length"]): r for r in bench.ratios(rows, "cpu")}
    assert ratios[("ssd", 16)]["x_loop"] > 0 and "x_loop" not in ratios[("ssd", 32)]
    assert ("x_mambapy" in ratios[("selective_scan", 16)]) == (missing is None)


@pytest.mark.parametrize("op", bench.OPS)
def test_plain_loop_and_mambapy_compute_the_op(op: str) -> None:
    """The baselines are the same function: values and grads match the reference backend."""
    inputs = bench.make_inputs(op, 21, shape={"batch": 1, "dim": 8, "heads": 2, "headdim": 4})
    (expected,) = bench.outputs(op, inputs, "reference")[:1]
    (looped,) = bench.plain_loop(op, inputs)
    torch.testing.assert_close(looped, expected, rtol=1e-4, atol=1e-4)
    if op == "selective_scan" and bench.mambapy_missing() is None:
        given = bench.mambapy_inputs(inputs)
        (scanned,) = bench.mambapy_scan(given)
        torch.testing.assert_close(scanned.transpose(1, 2), expected, rtol=1e-4, atol=1e-4)
        (grad_u,) = torch.autograd.grad(scanned.sum(), [given["u"]])
        (want,) = torch.autograd.grad(expected.sum(), [inputs["u"]])
        torch.testing.assert_close(grad_u.transpose(1, 2), want, rtol=1e-4, atol=1e-4)


def test_mambapy_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mambapy.mamba", None)  # an import of it now fails
    assert bench.mambapy_missing().startswith(
        "mambapy not installed (pip install 'nas-hybrid[bench]')"
    )


def test_build_seconds_compiles_each_source_from_scratch() -> None:
    seconds = bench.build_seconds()
    assert set(seconds) == {"selective_scan/cpu.c", "ssd/cpu.c"}
    assert all(s > 0 for s in seconds.values())


@pytest.mark.parametrize("backend", ["cpu", "torch"])
def test_selective_scan_memory_does_not_grow_as_n_times_l(backend: str) -> None:
    """From L=1024 to 4096 at N=64, the extra peak memory of a fwd+bwd grows by far less than
    the 4 * N bytes per token and channel that storing the state would add."""
    cpu = torch.device("cpu")
    short, long = (
        bench.extra_peak_bytes("selective_scan", n, 64, cpu, backend) for n in (1024, 4096)
    )
    if short is None or long is None:
        pytest.skip("no /proc: the resident-set high-water mark is Linux-only")
    channels = bench.SCAN_SHAPE["batch"] * bench.SCAN_SHAPE["dim"]
    growth = (long - short) / (channels * (4096 - 1024))
    assert 0 < short < long
    assert growth < 0.5 * 4 * 64


def test_bench_main_prints_and_writes_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench, "QUICK_LENGTHS", (16,))
    monkeypatch.setattr(bench, "MEMORY_LENGTHS", (32, 64))
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--threads", "1", "2", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["device_type"] == "cpu" and results["quick"]
    assert results["command"] == "nas bench kernels --quick"
    assert {(r["op"], r["threads"]) for r in results["timings"]} == {
        (op, n) for op in bench.OPS for n in (1, 2)
    }
    assert {(r["op"], r["threads"]) for r in results["ratios"]} == {
        (op, n) for op in bench.OPS for n in (1, 2)
    }
    assert [(r["op"], r["backend"], r["lengths"]) for r in results["memory"]] == [
        (op, backend, [32, 64]) for op in bench.OPS for backend in ("cpu", "torch")
    ]
    printed = capsys.readouterr().out
    assert "Scan kernels, fwd+bwd (fwd) ms" in printed and "its growth with L" in printed


@pytest.mark.slow
def test_check_dry_run_passes_and_writes_its_summary(tmp_path: Path) -> None:
    out = tmp_path / "check.json"
    assert check.main(["--dry-run", "--out", str(out)]) == 0
    summary = json.loads(out.read_text())
    assert summary["dry_run"] and summary["passed"]
    covered = {(r["op"], r["backend"], r["variant"]) for r in summary["accuracy"]}
    assert covered == {
        (op, backend, variant)
        for op in bench.OPS
        for backend in ("triton", "torch")
        for variant in ("full", "bare")
    }
    assert all("grad_A" in r["errors"] for r in summary["accuracy"])
    assert [r["op"] for r in summary["steps"]] == list(bench.OPS)
    assert {(r["op"], r["backend"]) for r in summary["timing"]} == {
        (op, b) for op in bench.OPS for b in ("triton", "torch")
    }


def test_check_without_cuda_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert check.main([]) == 2
    assert "needs a CUDA device" in capsys.readouterr().err


def test_relative_error_flags_non_finite_and_mismatched_tensors() -> None:
    ref = torch.tensor([1.0, -2.0])
    assert check.relative_error(ref, torch.tensor([1.0, -1.9])) == pytest.approx(0.05)
    assert torch.isnan(torch.tensor(check.relative_error(ref, torch.tensor([1.0, float("inf")]))))
    assert torch.isnan(torch.tensor(check.relative_error(ref, torch.ones(3))))
