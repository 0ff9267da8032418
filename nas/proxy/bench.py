"""Training throughput of reference architectures: ``python -m nas.proxy.bench``.

Trains each reference architecture on ``byte_lm`` with :func:`nas.proxy.evaluate` (so the
figure is the same ``tokens_per_s`` a study records: optimizer steps only, data generation
and evaluations excluded) and prints a table; ``--out`` writes the figures as JSON.

The references are quickstart-sized (d_model 64, four mixer layers, each followed by a
SwiGLU MLP of width 128, vocabulary 256): pure attention (4 heads), pure Mamba-1 and pure
Mamba-2 (d_state 16, expand 2, Mamba-2 headdim 16), and a 3:1 Mamba-2/attention hybrid.

Example:
    python -m nas.proxy.bench --steps 30 --threads 2 --out nas/proxy/bench_results.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from nas.arch import ArchSpec, AttentionSpec, MLPSpec, SSMSpec
from nas.compute import param_count, train_flops_per_token
from nas.proxy._budget import Budget
from nas.proxy._evaluate import evaluate

_MLP = MLPSpec(kind="swiglu", d_ff=128)
REFERENCES: dict[str, ArchSpec] = {
    "attention": ArchSpec(
        "AFAFAFAF", d_model=64, vocab_size=256, attention=AttentionSpec(4, 4), mlp=_MLP
    ),
    "mamba1": ArchSpec(
        "MFMFMFMF", d_model=64, vocab_size=256, ssm=SSMSpec(kind="mamba1"), mlp=_MLP
    ),
    "mamba2": ArchSpec(
        "MFMFMFMF", d_model=64, vocab_size=256, ssm=SSMSpec(kind="mamba2"), mlp=_MLP
    ),
    "hybrid 3:1": ArchSpec(
        "MFMFMFAF",
        d_model=64,
        vocab_size=256,
        ssm=SSMSpec(kind="mamba2"),
        attention=AttentionSpec(4, 4),
        mlp=_MLP,
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nas.proxy.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per architecture")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    task = f"byte_lm:seq_len={args.seq_len}"
    budget = Budget(
        steps=args.steps, batch_size=args.batch_size, eval_fractions=(1.0,), eval_batches=1
    )
    warmup = Budget(steps=2, batch_size=args.batch_size, eval_fractions=(1.0,), eval_batches=1)
    rows = []
    for name, arch in REFERENCES.items():
        common = {"device": args.device, "backend": args.backend, "num_threads": args.threads}
        evaluate(arch, [task], warmup, seed=0, **common)  # first-call allocations and caches
        metrics = evaluate(arch, [task], budget, seed=0, **common)
        flops_per_token = train_flops_per_token(arch, args.seq_len)
        rows.append(
            {
                "name": name,
                "layout": arch.layout,
                "arch_hash": arch.arch_hash,
                "params": param_count(arch),
                "train_flops_per_token": flops_per_token,
                "tokens_per_s": metrics.tokens_per_s,
                "achieved_gflops": metrics.tokens_per_s * flops_per_token / 1e9,
                "peak_memory_bytes": metrics.peak_memory_bytes,
                "status": metrics.status,
                "device": metrics.device,
                "device_name": metrics.device_name,
                "backend": metrics.backend,
                "num_threads": metrics.num_threads,
            }
        )
    setting = {
        "task": task,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "versions": metrics.versions,
        "date": datetime.date.today().isoformat(),
        "load_average_1min": os.getloadavg()[0],  # other work on the machine depresses the figures
    }
    _print(rows, setting)
    if args.out is not None:
        args.out.write_text(json.dumps({"setting": setting, "results": rows}, indent=2) + "\n")
    return 0


def _print(rows: list[dict], setting: dict) -> None:
    first = rows[0]
    table = Table(
        title=f"training throughput: {setting['task']}, batch {setting['batch_size']}, "
        f"{setting['steps']} steps",
        caption=f"{first['device']} ({first['device_name']}), {first['num_threads']} threads, "
        f"{first['backend']} backend, torch {setting['versions'].get('torch')}, "
        f"load average {setting['load_average_1min']:.1f}",
    )
    for header in ("arch", "layout", "params", "FLOPs/tok", "tokens/s", "GFLOP/s", "peak RSS"):
        justify = "left" if header in ("arch", "layout") else "right"
        table.add_column(header, justify=justify, no_wrap=True)
    for row in rows:
        table.add_row(
            row["name"],
            row["layout"],
            f"{row['params'] / 1e3:.0f}K",
            f"{row['train_flops_per_token'] / 1e6:.2f}M",
            f"{row['tokens_per_s']:,.0f}",
            f"{row['achieved_gflops']:.2f}",
            f"{row['peak_memory_bytes'] / 2**20:,.0f} MiB",
        )
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
