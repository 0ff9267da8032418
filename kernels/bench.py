"""Benchmark the scan ops: time per backend, the torch path against the reference, memory.

    python -m kernels.bench [--quick] [--json PATH] [--device cpu|cuda] [--threads N]

For the selective scan (B=2, dim=256, N=16) and SSD (B=2, h=8, p=32, n=64, chunk 64), at
L in {256, 1024, 4096}, it times (best of several runs) the forward (under no_grad) and
the forward+backward (grads of every input) of each backend the device runs: reference and
torch on CPU, plus triton on CUDA (Triton's CPU interpreter is for tests, not timing).
On a CPU shared with other work, prefer --threads 1: torch's intra-op threads then wait on
each other at every op and the torch path slows down many times. Inputs look like a Mamba layer's:
D, z, bias and softplus all on. On CUDA it also reports the achieved GB/s: the bytes each
pass must move at least (every input and output read or written once per pass, see
:func:`bytes_moved`) over the time, against the copy bandwidth measured on the device.

The reference is a Python loop; where its projected forward+backward time passes a budget it
is skipped, and the table says so (no figure is extrapolated). Memory: the extra peak memory
of one forward+backward of the torch path at L=1024 and 4096, and how much it grows per added
token and channel, beside the 4 * N bytes a stored fp32 state would add. The load average
before the run is recorded, and a warning printed when other work shares the CPUs.

Example:
    >>> from kernels.bench import run  # doctest: +SKIP
    >>> results = run(quick=True)      # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import torch

from kernels import selective_scan, ssd

OPS = ("selective_scan", "ssd")
LENGTHS = (256, 1024, 4096)
QUICK_LENGTHS = (256, 1024)
SCAN_SHAPE = {"batch": 2, "dim": 256, "nstate": 16}
SSD_SHAPE = {"batch": 2, "heads": 8, "headdim": 32, "nstate": 64, "chunk_size": 64}
REFERENCE_BUDGET_S = 12.0  # skip the reference where its projected fwd+bwd takes longer
MEMORY_LENGTHS = (1024, 4096)  # the torch path's extra memory at both: its growth per token
MEMORY_NSTATES = (16, 64)
DEFAULT_JSON = Path(__file__).parent / "bench_results" / "kernels_{device}.json"


def make_inputs(
    op: str,
    length: int,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    shape: dict[str, int] | None = None,
    full: bool = True,
    states: bool = False,
    requires_grad: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Keyword arguments for ``op``, as a Mamba layer would pass them.

    ``shape`` overrides entries of SCAN_SHAPE / SSD_SHAPE (and may set ``groups``, default 1).
    ``full`` adds D, z and the dt bias with softplus, as in a Mamba layer; ``states`` asks
    for the state output (and, for SSD, passes initial states). A stays fp32, as in Mamba.
    """
    gen = torch.Generator().manual_seed(seed)

    def randn(*dims: int, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(*dims, generator=gen) * scale

    def step_size(*dims: int) -> torch.Tensor:  # softplus'd by the op when full, else here
        raw = randn(*dims, scale=0.5) - 1.0
        return raw if full else torch.nn.functional.softplus(raw)

    if op == "selective_scan":
        s = {**SCAN_SHAPE, "groups": 1, **(shape or {})}
        b, d, n, g = s["batch"], s["dim"], s["nstate"], s["groups"]
        tensors = {
            "u": randn(b, d, length),
            "delta": step_size(b, d, length),
            "A": -torch.exp(randn(d, n, scale=0.5)),
            "B": randn(b, g, n, length),
            "C": randn(b, g, n, length),
        }
        if full:
            tensors |= {"D": randn(d), "z": randn(b, d, length), "delta_bias": randn(d, scale=0.1)}
        flags: dict[str, Any] = {"delta_softplus": full, "return_last_state": states}
    elif op == "ssd":
        s = {**SSD_SHAPE, "groups": 1, **(shape or {})}
        b, h, p, n, g = s["batch"], s["heads"], s["headdim"], s["nstate"], s["groups"]
        tensors = {
            "x": randn(b, length, h, p),
            "dt": step_size(b, length, h),
            "A": -torch.exp(randn(h, scale=0.5)),
            "B": randn(b, length, g, n),
            "C": randn(b, length, g, n),
        }
        if full:
            tensors |= {"D": randn(h), "z": randn(b, length, h, p), "dt_bias": randn(h, scale=0.1)}
        if states:
            tensors["initial_states"] = randn(b, h, p, n, scale=0.1)
        flags = {"chunk_size": s["chunk_size"], "dt_softplus": full, "return_final_states": states}
    else:
        raise ValueError(f"op must be one of {', '.join(OPS)}, got {op!r}")
    for name, t in tensors.items():
        t = t.to(device=device, dtype=torch.float32 if name == "A" else dtype)
        tensors[name] = t.requires_grad_(requires_grad)
    return {**tensors, **flags}


def outputs(op: str, inputs: dict[str, Any], backend: str) -> tuple[torch.Tensor, ...]:
    """The op's outputs for ``inputs`` on ``backend``: (y,) or (y, state)."""
    fn = selective_scan if op == "selective_scan" else ssd
    result = fn(**inputs, backend=backend)  # type: ignore[operator]
    return result if isinstance(result, tuple) else (result,)


def tensors_of(inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in inputs.items() if isinstance(v, torch.Tensor)}


def forward_backward(
    op: str,
    inputs: dict[str, Any],
    backend: str,
    grad_outputs: Sequence[torch.Tensor] | None = None,
) -> tuple[tuple[torch.Tensor, ...], dict[str, torch.Tensor]]:
    """(outputs, grad of every tensor input) under the loss sum(output * grad_output) over
    the outputs; grad_outputs default to ones."""
    outs = outputs(op, inputs, backend)
    if grad_outputs is None:
        weights = [torch.ones_like(o) for o in outs]
    else:
        weights = [w.to(o.dtype) for w, o in zip(grad_outputs, outs, strict=True)]
    tensors = tensors_of(inputs)
    grads = torch.autograd.grad(outs, list(tensors.values()), list(weights))
    return outs, dict(zip(tensors, grads, strict=True))


def bytes_moved(inputs: dict[str, Any], backward: bool) -> int:
    """Least bytes a pass must move: the forward reads each input and writes y (as large as
    u or x); the backward reads each input and grad_y again and writes one grad per input."""
    tensors = list(tensors_of(inputs).values())
    inputs_bytes = sum(t.numel() * t.element_size() for t in tensors)
    y_bytes = tensors[0].numel() * tensors[0].element_size()
    forward = inputs_bytes + y_bytes
    return forward + (2 * inputs_bytes + y_bytes if backward else 0)


def time_call(
    fn: Callable[[], object], device: torch.device, min_total_s: float = 0.5, min_reps: int = 3
) -> float:
    """Seconds per call, the best of several: the figure least disturbed by other work on the
    machine. The first call warms up; calls of a second or more are repeated once only."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def once() -> float:
        sync()
        start = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - start

    first = once()
    if first >= 1.0:
        return min(first, once())
    reps = max(min_reps, min(20, math.ceil(min_total_s / max(first, 1e-6))))
    return min(once() for _ in range(reps))


def copy_bandwidth(device: torch.device) -> float | None:
    """Bytes per second of a 1 GiB device-to-device copy (read + write), CUDA only."""
    if device.type != "cuda":
        return None
    src = torch.empty(2**28, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    seconds = time_call(lambda: dst.copy_(src), device)
    return 2 * src.numel() * src.element_size() / seconds


def backends_for(device: torch.device) -> list[str]:
    return ["triton", "torch", "reference"] if device.type == "cuda" else ["torch", "reference"]


def time_rows(
    device: torch.device,
    lengths: Sequence[int],
    bandwidth: float | None,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    rows = []
    for op in OPS:
        reference_per_token: float | None = None
        for length in lengths:
            for backend in backends_for(device):
                row: dict[str, Any] = {"op": op, "length": length, "backend": backend}
                if backend == "reference" and reference_per_token is not None:
                    projected = reference_per_token * length
                    if projected > REFERENCE_BUDGET_S:
                        row["note"] = f"skipped: projected {projected:.0f} s fwd+bwd (not measured)"
                        rows.append(row)
                        continue
                log(f"{op} L={length} {backend}")
                inputs = make_inputs(op, length, device=device)
                with torch.no_grad():
                    row["fwd_ms"] = 1e3 * time_call(partial(outputs, op, inputs, backend), device)
                row["fwd_bwd_ms"] = 1e3 * time_call(
                    partial(forward_backward, op, inputs, backend), device
                )
                if backend == "reference":
                    reference_per_token = row["fwd_bwd_ms"] / 1e3 / length
                if bandwidth is not None:
                    for key, backward in (("fwd", False), ("fwd_bwd", True)):
                        gbps = bytes_moved(inputs, backward) / (row[f"{key}_ms"] / 1e3) / 1e9
                        row[f"{key}_gbps"] = gbps
                        row[f"{key}_bandwidth_fraction"] = gbps * 1e9 / bandwidth
                rows.append(row)
    for row in rows:  # speed-up of each backend over the reference at the same op and length
        ref = next(
            (
                r
                for r in rows
                if (r["op"], r["length"], r["backend"]) == (row["op"], row["length"], "reference")
            ),
            None,
        )
        if ref and "fwd_bwd_ms" in ref and "fwd_bwd_ms" in row and row is not ref:
            row["speedup_fwd"] = ref["fwd_ms"] / row["fwd_ms"]
            row["speedup_fwd_bwd"] = ref["fwd_bwd_ms"] / row["fwd_bwd_ms"]
    return rows


def _extra_peak_bytes_child(op: str, length: int, nstate: int) -> int | None:
    """In a fresh process: growth of the resident set's high-water mark (Linux VmHWM, reset
    through /proc/self/clear_refs) over one fwd+bwd of the torch path, after a short warm-up
    call has loaded every code path. None where /proc is missing."""
    status = Path("/proc/self/status")
    if not status.exists():
        return None

    def kib(field: str) -> int:
        line = next(x for x in status.read_text().splitlines() if x.startswith(field + ":"))
        return int(line.split()[1])

    torch.set_num_threads(1)  # the figure is about memory; keep thread pools out of it
    forward_backward(op, make_inputs(op, 64, shape={"nstate": nstate}), "torch")
    inputs = make_inputs(op, length, shape={"nstate": nstate})
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current VmRSS
    before = kib("VmRSS")
    forward_backward(op, inputs, "torch")
    return (kib("VmHWM") - before) * 1024


def extra_peak_bytes(op: str, length: int, nstate: int, device: torch.device) -> int | None:
    """Extra peak memory of one fwd+bwd of the torch path, beyond its inputs."""
    if device.type == "cuda":
        inputs = make_inputs(op, length, device=device, shape={"nstate": nstate})
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        forward_backward(op, inputs, "torch")
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated(device) - base
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_extra_peak_bytes_child, op, length, nstate).result()


def memory_rows(
    device: torch.device, nstates: Sequence[int], log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Per op and N: the torch path's extra peak memory at two lengths, and how much it grows
    per added token and channel, beside the 4 * N bytes a stored fp32 state would add."""
    rows = []
    short, long = MEMORY_LENGTHS
    for op in OPS:
        if op == "selective_scan":
            batch, channels = SCAN_SHAPE["batch"], SCAN_SHAPE["dim"]
        else:
            batch, channels = SSD_SHAPE["batch"], SSD_SHAPE["heads"] * SSD_SHAPE["headdim"]
        for nstate in nstates:
            extras = []
            for length in (short, long):
                log(f"memory {op} L={length} N={nstate}")
                extras.append(extra_peak_bytes(op, length, nstate, device))
            if None in extras:
                continue
            growth = (extras[1] - extras[0]) / (batch * (long - short) * channels)
            rows.append(
                {
                    "op": op,
                    "backend": "torch",
                    "nstate": nstate,
                    "lengths": [short, long],
                    "extra_peak_bytes": extras,
                    "growth_bytes_per_token_channel": growth,
                    "stored_state_bytes_per_token_channel": 4 * nstate,
                }
            )
    return rows


def run(
    *, quick: bool = False, device: str | None = None, log: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """Every figure of the benchmark, as a JSON-ready dict."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    load_before = os.getloadavg()[0]  # other work on the CPUs skews every figure
    bandwidth = copy_bandwidth(dev)
    lengths = QUICK_LENGTHS if quick else LENGTHS
    return {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else _cpu_name(),
        "device_type": dev.type,
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "quick": quick,
        "shapes": {"selective_scan": SCAN_SHAPE, "ssd": SSD_SHAPE},
        "copy_bandwidth_gbps": None if bandwidth is None else bandwidth / 1e9,
        "timings": time_rows(dev, lengths, bandwidth, log),
        "memory": memory_rows(dev, MEMORY_NSTATES[:1] if quick else MEMORY_NSTATES, log),
    }


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "cpu"


def render(results: dict[str, Any]) -> list[Any]:
    """Rich tables for the timings and the memory figures."""
    from rich.table import Table

    cuda = results["device_type"] == "cuda"
    timing = Table(title=f"Scan kernels on {results['device']} ({results['threads']} threads)")
    for name in ("op", "L", "backend", "fwd ms", "fwd+bwd ms", "x reference (fwd / fwd+bwd)"):
        timing.add_column(name, justify="left" if name in ("op", "backend") else "right")
    if cuda:
        timing.add_column("GB/s fwd / fwd+bwd (% of copy bw)", justify="right")
    timing.add_column("note")
    for row in results["timings"]:
        measured = "fwd_ms" in row
        cells = [
            row["op"],
            str(row["length"]),
            row["backend"],
            f"{row['fwd_ms']:.1f}" if measured else "-",
            f"{row['fwd_bwd_ms']:.1f}" if measured else "-",
            f"{row['speedup_fwd']:.1f} / {row['speedup_fwd_bwd']:.1f}"
            if "speedup_fwd" in row
            else "",
        ]
        if cuda:
            cells.append(
                f"{row['fwd_gbps']:.0f} / {row['fwd_bwd_gbps']:.0f} "
                f"({100 * row['fwd_bandwidth_fraction']:.0f}% / {100 * row['fwd_bwd_bandwidth_fraction']:.0f}%)"
                if measured
                else ""
            )
        cells.append(row.get("note", ""))
        timing.add_row(*cells)
    short, long = MEMORY_LENGTHS
    memory = Table(title="Torch path: extra peak memory of one fwd+bwd, and its growth with L")
    for name in (
        "op",
        "N",
        f"L={short} MiB",
        f"L={long} MiB",
        "growth B / token / channel",
        "a stored fp32 state: 4N B",
    ):
        memory.add_column(name, justify="left" if name == "op" else "right")
    for row in results["memory"]:
        memory.add_row(
            row["op"],
            str(row["nstate"]),
            *(f"{extra / 2**20:.1f}" for extra in row["extra_peak_bytes"]),
            f"{row['growth_bytes_per_token_channel']:.1f}",
            str(row["stored_state_bytes_per_token_channel"]),
        )
    return [timing, memory]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kernels.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="L in {256, 1024} only")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    parser.add_argument("--json", type=Path, help=f"output file (default {DEFAULT_JSON})")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from rich.console import Console

    console = Console()
    with console.status("benchmarking") as status:
        results = run(quick=args.quick, device=args.device, log=lambda text: status.update(text))
    for table in render(results):
        console.print(table)
    if results["load_average_before"] > 0.5 * (results["cpu_count"] or 1):
        console.print(
            f"[yellow]warning: load average {results['load_average_before']:.1f} on "
            f"{results['cpu_count']} CPUs before the run: other work skewed these figures"
        )
    path = args.json or Path(str(DEFAULT_JSON).format(device=results["device_type"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
