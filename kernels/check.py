"""GPU check of the Triton kernels of both ops, in one call: compile, compare, time.

    python -m kernels.check [--out PATH] [--dry-run]

On CUDA it (1) compiles every Triton kernel, forward and backward, of the selective scan
and SSD for real, by running each op with every optional input on and then bare, in fp32
and bf16; (2) compares the triton and torch backends with the reference on values, the
returned state and every gradient, on odd shapes (lengths that are not a multiple of the
chunk, dims and state sizes that are not powers of two, grouped B/C), with tolerances
relative to each tensor's magnitude; (3) checks that the decode steps repeat the scans;
(4) times triton against the torch path and against the roofline (the least bytes each pass
must move over the device's measured copy bandwidth, see ``kernels.bench.bytes_moved``) at
the benchmark shapes. It writes a JSON summary after every section, so a run cut short
still leaves its figures, and stops timing once ``--budget`` seconds have passed (default
420, inside the 8 minutes a device session allows). Exit code 0 when every comparison
passes.

``--dry-run`` runs the same code on CPU through Triton's interpreter at tiny shapes, fp32
only (the interpreter has no bf16 arithmetic), so tests can exercise this script without a
GPU; its timings mean nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch

from kernels._backend import triton_interpreter_enabled
from kernels.bench import (
    OPS,
    bytes_moved,
    copy_bandwidth,
    forward_backward,
    make_inputs,
    outputs,
    time_call,
)

DEFAULT_OUT = Path(__file__).parent / "bench_results" / "check_{device}.json"
TOLERANCE = {torch.float32: 5e-3, torch.bfloat16: 5e-2}  # max error / max |reference|

# (length, shape overrides) per op: odd sizes exercise every mask; the second is model-like
ACCURACY_SHAPES = {
    "selective_scan": [
        (300, {"batch": 2, "dim": 96, "nstate": 13, "groups": 2}),
        (512, {"batch": 2, "dim": 256, "nstate": 16, "groups": 1}),
    ],
    "ssd": [
        (300, {"batch": 2, "heads": 6, "headdim": 24, "nstate": 40, "groups": 2, "chunk_size": 64}),
        (512, {"batch": 2, "heads": 8, "headdim": 32, "nstate": 64, "groups": 1, "chunk_size": 64}),
    ],
}
DRY_RUN_SHAPES = {
    "selective_scan": [(70, {"batch": 1, "dim": 12, "nstate": 3, "groups": 2})],
    "ssd": [
        (40, {"batch": 1, "heads": 2, "headdim": 4, "nstate": 5, "groups": 1, "chunk_size": 16})
    ],
}
TIMING_LENGTHS = (1024, 4096)


def accuracy(
    op: str,
    length: int,
    shape: dict[str, int],
    dtype: torch.dtype,
    full: bool,
    device: torch.device,
) -> list[dict[str, Any]]:
    """The triton and torch backends against the fp32 reference on the same (rounded) inputs,
    on every output and every gradient, under random output weights."""
    inputs = make_inputs(
        op, length, device=device, dtype=dtype, shape=shape, full=full, states=full
    )
    upcast = {
        k: v.detach().float().requires_grad_() if isinstance(v, torch.Tensor) else v
        for k, v in inputs.items()
    }
    gen = torch.Generator().manual_seed(1)
    shapes = [o.shape for o in outputs(op, upcast, "reference")]
    weights = [torch.randn(s, generator=gen).to(device) for s in shapes]
    expected = _named(*forward_backward(op, upcast, "reference", weights))
    rows = []
    for backend in ("triton", "torch"):
        row: dict[str, Any] = {
            "op": op,
            "backend": backend,
            "length": length,
            "shape": shape,
            "dtype": _name(dtype),
            "variant": "full" if full else "bare",
            "tolerance": TOLERANCE[dtype],
        }
        try:
            start = time.perf_counter()
            got = _named(*forward_backward(op, inputs, backend, weights))
            row["first_call_s"] = time.perf_counter() - start  # with compilation on first use
            row["errors"] = {k: relative_error(expected[k], got[k]) for k in expected}
            row["passed"] = all(e <= TOLERANCE[dtype] for e in row["errors"].values())
        except Exception as exc:  # a kernel that fails to compile or run is a finding
            row["error"] = f"{type(exc).__name__}: {exc}"
            row["passed"] = False
        rows.append(row)
    return rows


def _named(outs: Sequence[torch.Tensor], grads: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    names = ["y", "state"][: len(outs)]
    return dict(zip(names, outs, strict=True)) | {f"grad_{k}": g for k, g in grads.items()}


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def relative_error(expected: torch.Tensor, actual: torch.Tensor) -> float:
    """Max |actual - expected| over max |expected|; NaN when shapes differ or actual is not finite."""
    if expected.shape != actual.shape or not torch.isfinite(actual).all():
        return float("nan")
    scale = expected.float().abs().max().clamp_min(1e-6)
    return ((actual.float() - expected.float()).abs().max() / scale).item()


def step_consistency(op: str, shape: dict[str, int], device: torch.device) -> dict[str, Any]:
    """Stepping 8 tokens one at a time from a zero state reproduces the reference scan."""
    from kernels import selective_scan_step, ssd_step

    length = 8
    inputs = make_inputs(op, length, device=device, shape=shape, requires_grad=False)
    y_scan = outputs(op, inputs, "reference")[0]
    ys = []
    if op == "selective_scan":
        state = inputs["u"].new_zeros(inputs["u"].shape[0], *inputs["A"].shape)
        fixed = {k: inputs[k] for k in ("A", "D", "delta_bias")}
        for t in range(length):
            per_token = {k: inputs[k][..., t] for k in ("u", "delta", "B", "C", "z")}
            y, state = selective_scan_step(state, **per_token, **fixed, delta_softplus=True)
            ys.append(y)
        y_steps = torch.stack(ys, dim=-1)
    else:
        b, _, h, p = inputs["x"].shape
        state = inputs["x"].new_zeros(b, h, p, inputs["B"].shape[-1])
        fixed = {k: inputs[k] for k in ("A", "D", "dt_bias")}
        for t in range(length):
            per_token = {k: inputs[k][:, t] for k in ("x", "dt", "B", "C", "z")}
            y, state = ssd_step(state, **per_token, **fixed, dt_softplus=True)
            ys.append(y)
        y_steps = torch.stack(ys, dim=1)
    error = relative_error(y_scan, y_steps)
    return {"op": op, "error": error, "passed": error <= 1e-4}


def timing(
    op: str,
    length: int,
    dtype: torch.dtype,
    device: torch.device,
    bandwidth: float | None,
    shape: dict[str, int] | None = None,
    min_reps: int = 3,
) -> list[dict[str, Any]]:
    """fwd (no_grad) and fwd+bwd time of triton and torch, with the roofline where known."""
    inputs = make_inputs(op, length, device=device, dtype=dtype, shape=shape)
    rows = []
    for backend in ("triton", "torch"):
        row: dict[str, Any] = {
            "op": op,
            "length": length,
            "dtype": _name(dtype),
            "backend": backend,
        }
        try:
            with torch.no_grad():
                fwd = partial(outputs, op, inputs, backend)
                row["fwd_ms"] = 1e3 * time_call(fwd, device, min_reps=min_reps)
            fwd_bwd = partial(forward_backward, op, inputs, backend)
            row["fwd_bwd_ms"] = 1e3 * time_call(fwd_bwd, device, min_reps=min_reps)
        except Exception as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"
            rows.append(row)
            continue
        if bandwidth is not None:
            for key, backward in (("fwd", False), ("fwd_bwd", True)):
                roofline_ms = 1e3 * bytes_moved(inputs, backward) / bandwidth
                row[f"roofline_{key}_ms"] = roofline_ms
                row[f"{key}_fraction_of_roofline"] = roofline_ms / row[f"{key}_ms"]
        rows.append(row)
    return rows


def run(
    *, dry_run: bool, out: Path, budget_s: float, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Every section in turn; the summary is rewritten to ``out`` after each step."""
    import triton

    started = time.perf_counter()
    device = torch.device("cpu" if dry_run else "cuda")
    dtypes = [torch.float32] if dry_run else [torch.float32, torch.bfloat16]
    shapes = DRY_RUN_SHAPES if dry_run else ACCURACY_SHAPES
    summary: dict[str, Any] = {
        "device": "cpu, Triton interpreter (dry run)" if dry_run else torch.cuda.get_device_name(),
        "dry_run": dry_run,
        "torch": torch.__version__,
        "triton": triton.__version__,
        "python": platform.python_version(),
        "accuracy": [],
        "steps": [],
        "timing": [],
        "notes": [],
    }

    def save() -> None:
        summary["elapsed_s"] = time.perf_counter() - started
        checks = summary["accuracy"] + summary["steps"]
        summary["passed"] = bool(checks) and all(r["passed"] for r in checks)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2) + "\n")

    for op in OPS:
        for dtype in dtypes:
            for length, shape in shapes[op]:
                for full in (True, False):
                    log(f"accuracy {op} {_name(dtype)} L={length} {'full' if full else 'bare'}")
                    summary["accuracy"] += accuracy(op, length, shape, dtype, full, device)
                    save()
        summary["steps"].append(step_consistency(op, shapes[op][0][1], device))
        save()
    bandwidth = None if dry_run else copy_bandwidth(device)
    summary["copy_bandwidth_gbps"] = None if bandwidth is None else bandwidth / 1e9
    for op in OPS:
        # dry run: the interpreter at the tiny accuracy shape, one timed call
        plan = [(64, shapes[op][0][1])] if dry_run else [(n, None) for n in TIMING_LENGTHS]
        for length, shape in plan:
            for dtype in dtypes:
                if time.perf_counter() - started > budget_s:
                    summary["notes"].append(
                        f"timing {op} L={length} {_name(dtype)} skipped: past the {budget_s:.0f} s budget"
                    )
                    continue
                log(f"timing {op} L={length} {_name(dtype)}")
                summary["timing"] += timing(
                    op, length, dtype, device, bandwidth, shape, min_reps=1 if dry_run else 3
                )
                save()
    save()
    return summary


def print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    acc = Table(title=f"Against the reference on {summary['device']}")
    for name in ("op", "backend", "dtype", "L", "variant", "worst error (tensor)", "tol", "ok"):
        acc.add_column(name)
    for row in summary["accuracy"]:
        if "errors" in row:
            name, error = max(row["errors"].items(), key=lambda kv: _worst_first(kv[1]))
            detail = f"{error:.2e} ({name})"
        else:
            detail = row["error"][:100]
        acc.add_row(
            row["op"],
            row["backend"],
            row["dtype"],
            str(row["length"]),
            row["variant"],
            detail,
            f"{row['tolerance']:.0e}",
            "yes" if row["passed"] else "NO",
        )
    console.print(acc)
    for row in summary["steps"]:
        verdict = "ok" if row["passed"] else "FAILED"
        console.print(
            f"decode steps repeat the {row['op']} scan: error {row['error']:.1e} {verdict}"
        )
    bandwidth = summary.get("copy_bandwidth_gbps")
    title = f"Timing (copy bandwidth {bandwidth:.0f} GB/s)" if bandwidth else "Timing"
    tim = Table(title=title)
    for name in (
        "op",
        "L",
        "dtype",
        "backend",
        "fwd ms",
        "fwd+bwd ms",
        "roofline ms",
        "of roofline",
    ):
        tim.add_column(name)
    for row in summary["timing"]:
        head = [row["op"], str(row["length"]), row["dtype"], row["backend"]]
        if "error" in row:
            tim.add_row(*head, "-", "-", row["error"][:60], "")
            continue
        roofline = fraction = "-"
        if "roofline_fwd_ms" in row:
            roofline = f"{row['roofline_fwd_ms']:.3f} / {row['roofline_fwd_bwd_ms']:.3f}"
            fraction = (
                f"{100 * row['fwd_fraction_of_roofline']:.0f}% / "
                f"{100 * row['fwd_bwd_fraction_of_roofline']:.0f}%"
            )
        tim.add_row(*head, f"{row['fwd_ms']:.3f}", f"{row['fwd_bwd_ms']:.3f}", roofline, fraction)
    console.print(tim)
    for note in summary["notes"]:
        console.print(note)
    console.print(f"{'PASSED' if summary['passed'] else 'FAILED'} in {summary['elapsed_s']:.0f} s")


def _worst_first(error: float) -> tuple[bool, float]:
    return (math.isnan(error), 0.0 if math.isnan(error) else error)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="python -m kernels.check", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", type=Path, help=f"JSON summary (default {DEFAULT_OUT})")
    parser.add_argument(
        "--dry-run", action="store_true", help="CPU, Triton interpreter, tiny shapes"
    )
    parser.add_argument(
        "--budget", type=float, default=420.0, help="seconds after which timing stops (default 420)"
    )
    args = parser.parse_args(args_list)
    if args.dry_run and not triton_interpreter_enabled():
        # Triton reads the variable when a kernel is defined, which importing kernels did
        env = {**os.environ, "TRITON_INTERPRET": "1"}
        os.execve(sys.executable, [sys.executable, "-m", "kernels.check", *args_list], env)
    if not args.dry_run and not torch.cuda.is_available():
        print("kernels.check needs a CUDA device; --dry-run exercises it on CPU", file=sys.stderr)
        return 2
    out = args.out or Path(str(DEFAULT_OUT).format(device="cpu" if args.dry_run else "cuda"))
    summary = run(dry_run=args.dry_run, out=out, budget_s=args.budget)
    print_summary(summary)
    print(f"wrote {out}")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
