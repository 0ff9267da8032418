"""Proxy training speed: ``nas bench train`` (``python -m nas.proxy.bench`` is the same).

Three parts, in one process (the end-to-end part runs ``nas train`` as a child):

1. **Families at the issue's shape**: batch 16 x 128 bytes, vocabulary 256, d_model 64, four
   mixer layers each followed by a SwiGLU MLP of width 128 (the quickstart's layouts), d_state
   16, expand 2: pure attention (4 heads, the yardstick), Mamba-1, Mamba-2 (headdim 16) and a
   3:1 Mamba-2/attention hybrid; plus Mamba-1 without MLPs (``MMMM``) beside mambapy's Mamba LM
   of the same shape (``mambapy``, the optional ``bench`` extra). At 1 and 2 torch threads.
2. **The quickstart's shapes**: its three baselines (attention, Mamba-2, hybrid; d_state 16) at
   its two tasks' lengths, byte_lm 64 and mqar 16, batch 16.
3. **End to end**: wall time of ``nas train`` for the quickstart's three baselines on both
   quickstart tasks at its budget (150 steps), 1 thread, whole process: with the ``cpu``
   backend from a cold kernel cache (its C build counted) and with the ``torch`` backend.

Parts 1 and 2 time the step every proxy takes (forward, masked cross-entropy, backward, grad
clip, AdamW; :func:`train_tokens_per_s`) on random tokens: tokens/s over ``--steps`` steps
after ``WARMUP`` steps, whose time (first calls, allocations, the kernels' load) is reported
apart as ``warmup_s``. Ratios against attention (and mambapy) come from the same run. JSON goes
to ``nas/proxy/bench_results.json``; a table is printed.

Example:
    nas bench train --steps 20 --threads 1 2
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from kernels.bench import cpu_name, mambapy_missing, package_version
from nas.arch import ArchSpec, AttentionSpec, MLPSpec, SSMSpec
from nas.models import build_model

DEFAULT_JSON = Path(__file__).with_name("bench_results.json")
WARMUP = 3  # steps before timing: first calls, allocator growth, the kernels' load
BATCH, SEQ_LEN, VOCAB = 16, 128, 256
QUICKSTART_TASKS = ("byte_lm:seq_len=64", "mqar:num_kv_pairs=2,seq_len=16,vocab_size=16")
QUICKSTART_STEPS = 150

_MLP = MLPSpec(kind="swiglu", d_ff=128)
_M1, _M2 = SSMSpec(kind="mamba1"), SSMSpec(kind="mamba2", headdim=16)
_ATTN = AttentionSpec(4, 4)
FAMILIES: dict[str, ArchSpec] = {
    "attention": ArchSpec("AFAFAFAF", d_model=64, vocab_size=VOCAB, attention=_ATTN, mlp=_MLP),
    "mamba1": ArchSpec("MFMFMFMF", d_model=64, vocab_size=VOCAB, ssm=_M1, mlp=_MLP),
    "mamba2": ArchSpec("MFMFMFMF", d_model=64, vocab_size=VOCAB, ssm=_M2, mlp=_MLP),
    "hybrid 3:1": ArchSpec(
        "MFMFMFAF", d_model=64, vocab_size=VOCAB, ssm=_M2, attention=_ATTN, mlp=_MLP
    ),
    "mamba1 MMMM": ArchSpec("MMMM", d_model=64, vocab_size=VOCAB, ssm=_M1),
}
QUICKSTART = ("attention", "mamba2", "hybrid 3:1")  # its baselines: AFAFAFAF, MFMFMFMF, MFMFMFAF


def train_tokens_per_s(
    model: torch.nn.Module, batch: int, seq_len: int, vocab: int, steps: int
) -> tuple[float, float]:
    """(tokens/s over ``steps`` timed steps, seconds of the WARMUP steps before them): the
    step of ``nas.proxy.evaluate`` (AdamW, clip 1.0) on random tokens."""
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, vocab, (batch, seq_len + 1), generator=generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step() -> None:
        logits = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1).float(), tokens[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    start = time.perf_counter()
    for _ in range(WARMUP):
        step()
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch * seq_len / (time.perf_counter() - start), warmup


def mambapy_lm(arch: ArchSpec) -> torch.nn.Module:
    """mambapy's Mamba-1 LM with ``arch``'s shape (its SSM blocks only: mambapy has no MLPs):
    embedding, ``mambapy.mamba.Mamba``, RMSNorm and an untied head, which is what
    ``mambapy.lm.LM`` builds (that module itself also imports mambapy's Mamba-2, which needs
    mamba_ssm and CUDA)."""
    from mambapy.mamba import Mamba, MambaConfig, RMSNorm

    assert arch.ssm is not None and set(arch.layout) == {"M"}
    config = MambaConfig(
        d_model=arch.d_model,
        n_layers=len(arch.layout),
        d_state=arch.ssm.d_state,
        expand_factor=arch.ssm.expand,
        d_conv=arch.ssm.d_conv,
    )

    class MambapyLM(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(arch.vocab_size, arch.d_model)
            self.mamba = Mamba(config)
            self.norm_f = RMSNorm(arch.d_model, config.rms_norm_eps)
            self.lm_head = torch.nn.Linear(arch.d_model, arch.vocab_size, bias=False)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.lm_head(self.norm_f(self.mamba(self.embedding(tokens))))

    return MambapyLM()


def throughput_rows(
    names: Sequence[str],
    shapes: Sequence[tuple[str, int]],
    threads: Sequence[int],
    steps: int,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """One row per (shape, threads, model): tokens/s, warm-up seconds, and tokens/s over the
    attention model's at the same shape and threads. ``names`` are FAMILIES keys, or
    "mambapy" (its LM in the shape of "mamba1 MMMM")."""
    rows = []
    missing = mambapy_missing()
    for shape, seq_len in shapes:
        for count in threads:
            torch.set_num_threads(count)
            for name in names:
                row: dict[str, Any] = {"shape": shape, "seq_len": seq_len, "batch": BATCH}
                row |= {"threads": count, "name": name}
                arch = FAMILIES["mamba1 MMMM" if name == "mambapy" else name]
                row["layout"] = arch.layout
                if name == "mambapy" and missing:
                    rows.append({**row, "note": missing})
                    continue
                log(f"{shape}: {name}, {count} thread(s)")
                torch.manual_seed(0)
                model = mambapy_lm(arch) if name == "mambapy" else build_model(arch)
                row["backend"] = "mambapy" if name == "mambapy" else _backend_of(model)
                rate, warmup = train_tokens_per_s(model, BATCH, seq_len, VOCAB, steps)
                rows.append({**row, "tokens_per_s": rate, "warmup_s": warmup})
    torch.set_num_threads(threads[0])
    timed = {(r["shape"], r["threads"], r["name"]): r for r in rows if "tokens_per_s" in r}
    for (shape, count, name), row in timed.items():
        # attention is every family's yardstick; mambapy only that of the model it mirrors
        bases = {"mambapy": [], "mamba1 MMMM": ["attention", "mambapy"]}.get(name, ["attention"])
        for base in bases:
            other = timed.get((shape, count, base))
            if other is not None and name != base:
                row[f"vs_{base}"] = row["tokens_per_s"] / other["tokens_per_s"]
    return rows


def _backend_of(model: torch.nn.Module) -> str:
    from kernels import resolve_backend

    return resolve_backend(getattr(model, "backend", "auto"), torch.device("cpu"))


def end_to_end_rows(log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Wall seconds of ``nas train`` (a fresh process, imports included) for the quickstart's
    baselines on its two tasks at its 150 steps, 1 thread: the cpu backend from a cold kernel
    cache (its C build counted), again from the cache that run filled ("cpu warm"), and the
    torch backend."""
    rows = []
    for name in QUICKSTART:
        arch = FAMILIES[name]
        cache = tempfile.mkdtemp(prefix="nas-kernels-")
        try:
            for label, backend in (("cpu", "cpu"), ("cpu warm", "cpu"), ("torch", "torch")):
                log(f"nas train {arch.layout} --backend {backend}")
                row = {"name": name, "layout": arch.layout, "backend": label}
                rows.append(row | _nas_train(arch, backend, cache))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    for row in rows:
        torch_row = next(
            (r for r in rows if r["name"] == row["name"] and r["backend"] == "torch"), None
        )
        if row["backend"] != "torch" and torch_row and "wall_s" in row and "wall_s" in torch_row:
            row["speedup_wall"] = torch_row["wall_s"] / row["wall_s"]
    return rows


def _nas_train(arch: ArchSpec, backend: str, cache: str) -> dict[str, Any]:
    """{"wall_s", "train_s"} of one ``nas train`` process, or {"note"} when it failed."""
    command = [sys.executable, "-m", "nas", "train", "--arch", arch.to_json()]
    for task in QUICKSTART_TASKS:
        command += ["--task", task]
    command += ["--steps", str(QUICKSTART_STEPS), "--batch-size", str(BATCH)]
    command += ["--backend", backend, "--threads", "1", "--json"]
    env = {**os.environ, "NAS_KERNEL_CACHE": cache}
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        return {"note": f"nas train failed: {done.stderr.strip()[-300:]}"}
    metrics = json.loads(done.stdout)["metrics"]
    train_s = sum(task["metrics"]["train_s"] for task in metrics["tasks"].values())
    return {"wall_s": wall, "train_s": train_s}


def run(
    *,
    steps: int = 20,
    threads: Sequence[int] = (1, 2),
    end_to_end: bool = True,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Every figure of the benchmark, as a JSON-ready dict."""
    load_before = os.getloadavg()[0]
    issue = throughput_rows(
        [*FAMILIES, "mambapy"], [("issue", SEQ_LEN)], threads, steps, log
    )  # fmt: skip
    quick_shapes = [(f"quickstart {t.split(':')[0]}", int(t.split("seq_len=")[1].split(",")[0]))
                    for t in QUICKSTART_TASKS]  # fmt: skip
    quickstart = throughput_rows(list(QUICKSTART), quick_shapes, threads, steps, log)
    return {
        "command": "nas bench train",
        "date": datetime.date.today().isoformat(),
        "device": cpu_name(),
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "versions": {p: package_version(p) for p in ("torch", "mambapy", "nas-hybrid")},
        "steps": steps,
        "warmup_steps": WARMUP,
        "throughput": issue + quickstart,
        "end_to_end": end_to_end_rows(log) if end_to_end else [],
    }


def render(results: dict[str, Any]) -> list[Table]:
    throughput = Table(
        title=f"Proxy training tokens/s on {results['device']} ({results['steps']} steps after "
        f"{results['warmup_steps']} warm-up), batch {BATCH}",
        caption="x attention: tokens/s over the attention proxy's at the same shape and threads; "
        "x mambapy: MMMM over mambapy's Mamba LM of the same shape",
    )
    for name in ("shape", "L", "thr", "model", "layout", "backend", "tokens/s", "warm-up s",
                 "x attention", "x mambapy"):  # fmt: skip
        throughput.add_column(name, justify="left" if name in ("shape", "model") else "right")
    for row in results["throughput"]:
        throughput.add_row(
            row["shape"],
            str(row["seq_len"]),
            str(row["threads"]),
            row["name"],
            row["layout"],
            row.get("backend", ""),
            f"{row['tokens_per_s']:,.0f}" if "tokens_per_s" in row else row.get("note", ""),
            f"{row['warmup_s']:.2f}" if "warmup_s" in row else "",
            f"{row['vs_attention']:.2f}" if "vs_attention" in row else "",
            f"{row['vs_mambapy']:.2f}" if "vs_mambapy" in row else "",
        )
    tables = [throughput]
    if results["end_to_end"]:
        e2e = Table(
            title=f"End to end: nas train on {' + '.join(QUICKSTART_TASKS)}, "
            f"{QUICKSTART_STEPS} steps each, 1 thread",
            caption="wall: the whole process; cpu: from a cold kernel cache (its C build "
            "counted); cpu warm: from the cache that run filled",
        )
        for name in ("model", "layout", "backend", "wall s", "of which training s", "x torch"):
            e2e.add_column(name, justify="left" if name == "model" else "right")
        for row in results["end_to_end"]:
            e2e.add_row(
                row["name"],
                row["layout"],
                row["backend"],
                f"{row['wall_s']:.1f}" if "wall_s" in row else row.get("note", ""),
                f"{row['train_s']:.1f}" if "train_s" in row else "",
                f"{row['speedup_wall']:.2f}" if "speedup_wall" in row else "",
            )
        tables.append(e2e)
    return tables


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nas bench train", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per model")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1, 2], help="torch threads (default: 1 2)"
    )
    parser.add_argument("--no-end-to-end", action="store_true", help="skip the nas train runs")
    parser.add_argument("--json", type=Path, help=f"output file (default {DEFAULT_JSON})")
    args = parser.parse_args(argv)
    console = Console(width=max(Console().width, 120))
    with console.status("benchmarking") as status:
        results = run(
            steps=args.steps,
            threads=args.threads,
            end_to_end=not args.no_end_to_end,
            log=lambda text: status.update(text),
        )
    for table in render(results):
        console.print(table)
    if results["load_average_before"] > 0.5 * (results["cpu_count"] or 1):
        console.print(
            f"[yellow]warning: load average {results['load_average_before']:.1f} on "
            f"{results['cpu_count']} CPUs before the run: other work skewed these figures"
        )
    path = args.json or DEFAULT_JSON
    path.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
