"""kernels.bench and kernels.check: their code paths on CPU, at tiny sizes (no timing asserted)."""

from __future__ import annotations

import json
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


def test_time_rows_compare_with_the_reference_and_skip_it_past_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bench, "REFERENCE_BUDGET_S", 1e-9)
    rows = bench.time_rows(torch.device("cpu"), (16, 32), None, lambda _: None)
    by_key = {(r["op"], r["length"], r["backend"]): r for r in rows}
    assert set(by_key) == {
        (op, n, b) for op in bench.OPS for n in (16, 32) for b in ("torch", "reference")
    }
    for op in bench.OPS:
        measured = by_key[(op, 16, "torch")]
        assert (
            measured["fwd_ms"] > 0
            and measured["fwd_bwd_ms"] > 0
            and measured["speedup_fwd_bwd"] > 0
        )
        skipped = by_key[(op, 32, "reference")]
        assert "fwd_ms" not in skipped and skipped["note"].startswith("skipped: projected")
        assert "speedup_fwd" not in by_key[(op, 32, "torch")]


def test_selective_scan_torch_memory_does_not_grow_as_n_times_l() -> None:
    """From L=1024 to 4096 at N=64, the extra peak memory of a fwd+bwd grows by far less than
    the 4 * N bytes per token and channel that storing the state would add."""
    cpu = torch.device("cpu")
    short, long = (bench.extra_peak_bytes("selective_scan", n, 64, cpu) for n in (1024, 4096))
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
    assert bench.main(["--quick", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["device_type"] == "cpu" and results["quick"]
    assert {r["op"] for r in results["timings"]} == set(bench.OPS)
    assert [(r["op"], r["lengths"]) for r in results["memory"]] == [
        (op, [32, 64]) for op in bench.OPS
    ]
    printed = capsys.readouterr().out
    assert "Scan kernels on" in printed and "its growth with L" in printed


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
