"""Benchmark the scan ops: ours against a plain loop, mambapy and the chunked torch path.

    nas bench kernels [--quick] [--json PATH] [--device cpu|cuda] [--threads N ...]

(``python -m kernels.bench`` is the same.) For the selective scan (B=2, dim=256, N=16) and
SSD (B=2, h=8, p=32, n=64), at L in {256, 1024, 4096} and at 1 and 2 torch threads, it times
(best of several runs) the forward (under no_grad) and the forward+backward (grads of every
input) of, side by side in one process:

- ours: the ``cpu`` backend's fused C kernels on CPU (``triton`` on CUDA);
- ``torch``: the chunked PyTorch path (the fallback where no C compiler is found);
- ``loop``: :func:`plain_loop`, the op as a plain sequential loop written as simply and as
  fast as torch allows, autograd through it (the baseline);
- ``mambapy``: mambapy's parallel scan ``pscan`` (selective scan only; the optional ``bench``
  extra, ``pip install 'nas-hybrid[bench]'``; the table says when it is missing).

Inputs look like a Mamba layer's: D, z, bias and softplus all on. The ratios (how many times
faster ours runs fwd+bwd) come from the same run. The cpu backend's one-off build (the C
compiler, on a machine's first use) is timed apart from scratch. A baseline whose projected
fwd+bwd passes a budget, or whose stored states would pass 1 GiB, is skipped and the table says
so (no figure is extrapolated). Memory: the extra peak memory of one fwd+bwd of ours and of the
torch path at L=1024 and 4096, and how much it grows per added token and channel, beside the
4 * N bytes a stored fp32 state would add. The load average before the run is recorded, and a
warning printed when other work shares the CPUs. JSON goes to
``kernels/bench_results/kernels_{device}.json``. GPU timing against the roofline is
``python -m kernels.check``.

Example:
    >>> from kernels.bench import run  # doctest: +SKIP
    >>> results = run(quick=True)      # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import multiprocessing
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from kernels import selective_scan, ssd

OPS = ("selective_scan", "ssd")
LENGTHS = (256, 1024, 4096)
QUICK_LENGTHS = (256, 1024)
SCAN_SHAPE = {"batch": 2, "dim": 256, "nstate": 16}
SSD_SHAPE = {"batch": 2, "heads": 8, "headdim": 32, "nstate": 64, "chunk_size": 64}
REFERENCE_BUDGET_S = 12.0  # skip a baseline where its projected fwd+bwd takes longer
LOOP_STATE_LIMIT = 2**30  # skip the plain loop where the states it keeps would pass 1 GiB
THREADS = (1, 2)
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


def plain_loop(op: str, inputs: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    """The baseline: ``op`` as a plain sequential loop, written as simply and as fast as torch
    allows (every step one ``addcmul`` on whole (batch, ...) slices, the per-step factors made
    in one op each beforehand, y read out in one einsum), autograd running through the loop.
    For one group of B and C (the benchmark's shapes); returns (y,)."""
    if op == "selective_scan":
        u, delta, A, B, C = (inputs[k] for k in ("u", "delta", "A", "B", "C"))
        dt = delta + inputs["delta_bias"][:, None] if "delta_bias" in inputs else delta
        dt = F.softplus(dt) if inputs["delta_softplus"] else dt
        decay = torch.exp(torch.einsum("bdl,dn->lbdn", dt, A))  # (L, batch, dim, N)
        drive = torch.einsum("bdl,bnl->lbdn", dt * u, B[:, 0])
        h, states = u.new_zeros(decay.shape[1:]), []
        for decay_t, drive_t in zip(decay, drive, strict=True):
            h = torch.addcmul(drive_t, decay_t, h)
            states.append(h)
        y = torch.einsum("lbdn,bnl->bdl", torch.stack(states), C[:, 0])
        skip, gate = inputs["D"][:, None] * u, inputs.get("z")
    else:
        x, dt, A, B, C = (inputs[k] for k in ("x", "dt", "A", "B", "C"))
        dt = dt + inputs["dt_bias"] if "dt_bias" in inputs else dt
        dt = F.softplus(dt) if inputs["dt_softplus"] else dt
        decay = torch.exp(dt * A).transpose(0, 1)[..., None, None]  # (L, b, h, 1, 1)
        drive = torch.einsum("blh,blhp,bln->lbhpn", dt, x, B[:, :, 0])
        S, states = x.new_zeros(drive.shape[1:]), []
        for decay_t, drive_t in zip(decay, drive, strict=True):
            S = torch.addcmul(drive_t, decay_t, S)
            states.append(S)
        y = torch.einsum("lbhpn,bln->blhp", torch.stack(states), C[:, :, 0])
        skip, gate = inputs["D"][:, None] * x, inputs.get("z")
    y = y + skip
    return (y * F.silu(gate) if gate is not None else y,)


def mambapy_scan(inputs: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    """mambapy's selective scan (its ``pscan``, as its Mamba block calls it), with the same
    bias, softplus and z gate around it as the other implementations; inputs made by
    :func:`mambapy_inputs`, in mambapy's (batch, L, dim) layout. Returns (y,)."""
    from mambapy.mamba import MambaBlock

    dt = F.softplus(inputs["delta"] + inputs["delta_bias"])
    # selective_scan does not use its self: the bound method's body, called on the class
    y = MambaBlock.selective_scan(
        None, inputs["u"], dt, inputs["A"], inputs["B"], inputs["C"], inputs["D"]
    )
    return (y * F.silu(inputs["z"]),)


def mambapy_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """The selective scan's inputs as mambapy takes them: (batch, L, dim) and (batch, L, N)
    leaf tensors, copied from ``inputs`` so that the work is the same."""

    def leaf(t: torch.Tensor) -> torch.Tensor:
        return t.detach().clone().requires_grad_(True)

    out = {k: leaf(inputs[k].transpose(1, 2)) for k in ("u", "delta", "z")}
    out |= {k: leaf(inputs[k][:, 0].transpose(1, 2)) for k in ("B", "C")}
    return out | {k: leaf(inputs[k]) for k in ("A", "D", "delta_bias")}


def mambapy_missing() -> str | None:
    """Why mambapy cannot be imported (it is the optional ``bench`` extra), or None."""
    try:
        import mambapy.mamba  # noqa: F401
    except ImportError as exc:
        return f"mambapy not installed (pip install 'nas-hybrid[bench]'): {exc}"
    return None


def implementations(op: str, device: torch.device) -> list[str]:
    """What each row times: ours ("cpu" on CPU, "triton" on CUDA), the chunked "torch" path,
    the plain "loop" baseline and, for the selective scan, "mambapy"."""
    ours = ["triton"] if device.type == "cuda" else ["cpu"]
    return [*ours, "torch", "loop", *(["mambapy"] if op == "selective_scan" else [])]


def _runner(
    op: str, impl: str, inputs: dict[str, Any]
) -> tuple[Callable[[], object], Callable[[], object]]:
    """(forward, forward + backward) of one implementation on ``inputs``."""
    if impl == "mambapy":
        given = mambapy_inputs(inputs)

        def forward() -> tuple[torch.Tensor, ...]:
            return mambapy_scan(given)
    elif impl == "loop":
        given = inputs

        def forward() -> tuple[torch.Tensor, ...]:
            return plain_loop(op, inputs)
    else:
        given = inputs

        def forward() -> tuple[torch.Tensor, ...]:
            return outputs(op, inputs, impl)[:1]

    def forward_backward_once() -> None:
        (y,) = forward()
        tensors = list(tensors_of(given).values())
        torch.autograd.grad(y, tensors, torch.ones_like(y))

    def forward_only() -> None:
        with torch.no_grad():
            forward()

    return forward_only, forward_backward_once


def loop_state_bytes(op: str, length: int) -> int:
    """Bytes of the per-step states the plain loop keeps for its backward."""
    if op == "selective_scan":
        s = SCAN_SHAPE
        return 4 * s["batch"] * s["dim"] * s["nstate"] * length
    s = SSD_SHAPE
    return 4 * s["batch"] * s["heads"] * s["headdim"] * s["nstate"] * length


def time_rows(
    device: torch.device,
    lengths: Sequence[int],
    threads: Sequence[int],
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """fwd and fwd+bwd milliseconds of every implementation, per op, L and thread count; a
    baseline whose projected fwd+bwd passes REFERENCE_BUDGET_S, or whose states would pass
    LOOP_STATE_LIMIT, is skipped with a note (no figure is extrapolated)."""
    rows = []
    missing = mambapy_missing()
    for count in threads:
        torch.set_num_threads(count)
        for op in OPS:
            per_token: dict[str, float] = {}
            for length in lengths:
                inputs = make_inputs(op, length, device=device)
                for impl in implementations(op, device):
                    row: dict[str, Any] = {"op": op, "length": length, "threads": count}
                    row["impl"] = impl
                    projected = per_token.get(impl, 0.0) * length
                    if impl == "mambapy" and missing:
                        row["note"] = missing
                    elif impl in ("loop", "mambapy") and projected > REFERENCE_BUDGET_S:
                        row["note"] = f"skipped: projected {projected:.0f} s fwd+bwd"
                    elif impl == "loop" and loop_state_bytes(op, length) > LOOP_STATE_LIMIT:
                        gib = loop_state_bytes(op, length) / 2**30
                        row["note"] = f"skipped: its states would take {gib:.1f} GiB"
                    if "note" in row:
                        rows.append(row)
                        continue
                    log(f"{op} L={length} {impl}, {count} thread(s)")
                    forward, both = _runner(op, impl, inputs)
                    row["fwd_ms"] = 1e3 * time_call(forward, device)
                    row["fwd_bwd_ms"] = 1e3 * time_call(both, device)
                    per_token[impl] = row["fwd_bwd_ms"] / 1e3 / length
                    rows.append(row)
    torch.set_num_threads(threads[0])
    return rows


def ratios(rows: list[dict[str, Any]], ours: str) -> list[dict[str, Any]]:
    """Per op, L and thread count: how many times faster ``ours`` runs fwd+bwd than each
    other implementation measured in the same run."""
    timed = {(r["op"], r["length"], r["threads"], r["impl"]): r for r in rows if "fwd_ms" in r}
    out = []
    for (op, length, count, impl), row in timed.items():
        if impl != ours:
            continue
        entry: dict[str, Any] = {"op": op, "length": length, "threads": count, "ours": ours}
        for other in ("torch", "loop", "mambapy"):
            base = timed.get((op, length, count, other))
            if base is not None:
                entry[f"x_{other}"] = base["fwd_bwd_ms"] / row["fwd_bwd_ms"]
        out.append(entry)
    return out


def build_seconds() -> dict[str, float]:
    """Seconds to compile each C source of the cpu backend from scratch (what the first use
    on a machine costs; later processes load the cached library)."""
    from kernels import _native
    from kernels.selective_scan.cpu import SOURCE as SCAN_SOURCE
    from kernels.ssd.cpu import SOURCE as SSD_SOURCE

    seconds = {}
    with tempfile.TemporaryDirectory() as folder:
        for source in (SCAN_SOURCE, SSD_SOURCE):
            start = time.perf_counter()
            _native.build_into(source, Path(folder))
            seconds[f"{source.parent.name}/{source.name}"] = time.perf_counter() - start
    return seconds


def _extra_peak_bytes_child(op: str, length: int, nstate: int, backend: str) -> int | None:
    """In a fresh process: growth of the resident set's high-water mark (Linux VmHWM, reset
    through /proc/self/clear_refs) over one fwd+bwd of ``backend``, after a short warm-up
    call has loaded every code path. None where /proc is missing."""
    status = Path("/proc/self/status")
    if not status.exists():
        return None

    def kib(field: str) -> int:
        line = next(x for x in status.read_text().splitlines() if x.startswith(field + ":"))
        return int(line.split()[1])

    torch.set_num_threads(1)  # the figure is about memory; keep thread pools out of it
    forward_backward(op, make_inputs(op, 64, shape={"nstate": nstate}), backend)
    inputs = make_inputs(op, length, shape={"nstate": nstate})
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current VmRSS
    before = kib("VmRSS")
    forward_backward(op, inputs, backend)
    return (kib("VmHWM") - before) * 1024


def extra_peak_bytes(
    op: str, length: int, nstate: int, device: torch.device, backend: str = "torch"
) -> int | None:
    """Extra peak memory of one fwd+bwd of ``backend``, beyond its inputs."""
    if device.type == "cuda":
        inputs = make_inputs(op, length, device=device, shape={"nstate": nstate})
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        forward_backward(op, inputs, backend)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated(device) - base
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_extra_peak_bytes_child, op, length, nstate, backend).result()


def memory_rows(
    device: torch.device, nstates: Sequence[int], log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Per op, backend and N: the extra peak memory at two lengths, and how much it grows per
    added token and channel, beside the 4 * N bytes a stored fp32 state would add."""
    rows = []
    short, long = MEMORY_LENGTHS
    for op in OPS:
        if op == "selective_scan":
            batch, channels = SCAN_SHAPE["batch"], SCAN_SHAPE["dim"]
        else:
            batch, channels = SSD_SHAPE["batch"], SSD_SHAPE["heads"] * SSD_SHAPE["headdim"]
        for backend in (implementations(op, device)[0], "torch"):
            for nstate in nstates:
                extras = []
                for length in (short, long):
                    log(f"memory {op} {backend} L={length} N={nstate}")
                    extras.append(extra_peak_bytes(op, length, nstate, device, backend))
                if None in extras:
                    continue
                growth = (extras[1] - extras[0]) / (batch * (long - short) * channels)
                rows.append(
                    {
                        "op": op,
                        "backend": backend,
                        "nstate": nstate,
                        "lengths": [short, long],
                        "extra_peak_bytes": extras,
                        "growth_bytes_per_token_channel": growth,
                        "stored_state_bytes_per_token_channel": 4 * nstate,
                    }
                )
    return rows


def run(
    *,
    quick: bool = False,
    device: str | None = None,
    threads: Sequence[int] = THREADS,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Every figure of the benchmark, as a JSON-ready dict."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    load_before = os.getloadavg()[0]  # other work on the CPUs skews every figure
    lengths = QUICK_LENGTHS if quick else LENGTHS
    build = build_seconds() if dev.type == "cpu" else {}
    rows = time_rows(dev, lengths, threads, log)
    ours = implementations(OPS[0], dev)[0]
    return {
        "command": "nas bench kernels" + (" --quick" if quick else ""),
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_name(),
        "device_type": dev.type,
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "torch": torch.__version__,
        "mambapy": package_version("mambapy"),
        "quick": quick,
        "shapes": {"selective_scan": SCAN_SHAPE, "ssd": SSD_SHAPE},
        "build_s": build,
        "timings": rows,
        "ratios": ratios(rows, ours),
        "memory": memory_rows(dev, MEMORY_NSTATES[:1] if quick else MEMORY_NSTATES, log),
    }


def package_version(package: str) -> str | None:
    """The installed version of ``package``, or None."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo on Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "cpu"


def render(results: dict[str, Any]) -> list[Any]:
    """Rich tables: the timings with their ratios, and the memory figures."""
    from rich.table import Table

    ours = results["ratios"][0]["ours"] if results["ratios"] else "ours"
    timing = Table(
        title=f"Scan kernels, fwd+bwd (fwd) ms, on {results['device']}",
        caption=f"x: how many times faster {ours} runs fwd+bwd than each, in this run. "
        + ", ".join(f"{k} built in {v:.1f} s" for k, v in results["build_s"].items()),
    )
    impls = sorted({r["impl"] for r in results["timings"]}, key=_impl_order)
    for name in ("op", "L", "threads", *impls, *(f"x {i}" for i in impls if i != ours)):
        timing.add_column(name, justify="left" if name == "op" else "right")
    notes = []
    cells: dict[tuple, dict[str, str]] = {}
    for row in results["timings"]:
        key = (row["op"], row["length"], row["threads"])
        if "fwd_ms" in row:
            text = f"{row['fwd_bwd_ms']:.1f} ({row['fwd_ms']:.1f})"
        else:
            text = f"-[{len(notes) + 1}]" if row["note"] not in notes else "-"
            notes.append(row["note"]) if row["note"] not in notes else None
        cells.setdefault(key, {})[row["impl"]] = text
    ratio_of = {(r["op"], r["length"], r["threads"]): r for r in results["ratios"]}
    for key, by_impl in cells.items():
        ratio = ratio_of.get(key, {})
        xs = [f"{ratio[f'x_{i}']:.1f}" if f"x_{i}" in ratio else "" for i in impls if i != ours]
        timing.add_row(key[0], str(key[1]), str(key[2]), *(by_impl.get(i, "") for i in impls), *xs)
    short, long = MEMORY_LENGTHS
    memory = Table(
        title="Extra peak memory of one fwd+bwd (1 thread), and its growth with L",
        caption="\n".join(f"[{i + 1}] {note}" for i, note in enumerate(notes)) or None,
    )
    for name in (
        "op",
        "backend",
        "N",
        f"L={short} MiB",
        f"L={long} MiB",
        "growth B / token / channel",
        "a stored fp32 state: 4N B",
    ):
        memory.add_column(name, justify="left" if name in ("op", "backend") else "right")
    for row in results["memory"]:
        memory.add_row(
            row["op"],
            row["backend"],
            str(row["nstate"]),
            *(f"{extra / 2**20:.1f}" for extra in row["extra_peak_bytes"]),
            f"{row['growth_bytes_per_token_channel']:.1f}",
            str(row["stored_state_bytes_per_token_channel"]),
        )
    return [timing, memory]


def _impl_order(impl: str) -> int:
    order = ("triton", "cpu", "torch", "loop", "mambapy")
    return order.index(impl) if impl in order else len(order)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nas bench kernels", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="L in {256, 1024} only")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    parser.add_argument("--json", type=Path, help=f"output file (default {DEFAULT_JSON})")
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=list(THREADS),
        help="torch intra-op thread counts to measure at (default: 1 2)",
    )
    args = parser.parse_args(argv)
    from rich.console import Console

    console = Console()
    with console.status("benchmarking") as status:
        results = run(
            quick=args.quick,
            device=args.device,
            threads=args.threads,
            log=lambda text: status.update(text),
        )
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
