"""``nas train``: train one architecture's proxy models on tasks and print what they learned."""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from kernels import BACKENDS
from nas.arch import ArchSpec
from nas.cli._progress import TrainingProgress
from nas.cli.arch import console, format_figure
from nas.compute import param_count
from nas.errors import UserError
from nas.proxy import Budget, Metrics, TaskResult, check_device, evaluate
from nas.space import load_space
from nas.tasks import TASKS, get_task


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train proxy models of one architecture on tasks",
        description="Train a fresh proxy model of one architecture per task within a budget, "
        "then print the learning curve and the final metrics. Tasks: "
        + "; ".join(
            f"{name} ({', '.join(p.name for p in cls.PARAMS)}, filler)"
            for name, cls in TASKS.items()
        ),
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--arch",
        metavar="SPEC",
        help="a layout pattern such as '(MMMA)x2', ArchSpec JSON, or a .json file",
    )
    which.add_argument("--space", metavar="FILE", help="a search-space YAML to sample from")
    parser.add_argument(
        "--sample-seed",
        type=int,
        default=0,
        metavar="S",
        help="with --space: which sample (default 0)",
    )
    parser.add_argument("--d-model", type=int, metavar="N", help="with --arch: override d_model")
    parser.add_argument(
        "--vocab-size",
        type=int,
        metavar="N",
        help="with --arch: override vocab_size (default: the largest task vocabulary "
        "for a layout pattern)",
    )
    parser.add_argument(
        "--task",
        action="append",
        required=True,
        metavar="NAME[:K=V,...]",
        help="a task spec, e.g. mqar:num_kv_pairs=8 (repeat for several)",
    )
    amount = parser.add_mutually_exclusive_group(required=True)
    amount.add_argument("--steps", type=int, metavar="N", help="optimizer steps per task")
    amount.add_argument("--tokens", type=float, metavar="N", help="training tokens per task")
    amount.add_argument(
        "--flops", type=float, metavar="F", help="training FLOPs per task (compute-matched)"
    )
    parser.add_argument("--batch-size", type=int, default=Budget.batch_size, metavar="N")
    parser.add_argument("--lr", type=float, default=Budget.lr, help="peak learning rate")
    parser.add_argument(
        "--eval-batches",
        type=int,
        default=Budget.eval_batches,
        metavar="N",
        help="held-out batches per evaluation",
    )
    parser.add_argument(
        "--seed", type=int, default=0, metavar="S", help="training seed (default 0)"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="kernel backend of the SSM scans (default auto)",
    )
    parser.add_argument(
        "--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON only")
    parser.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    check_device(args.device)  # before anything is built or printed
    tasks = [get_task(spec) for spec in args.task]
    vocab = max(task.vocab_size for task in tasks)
    arch = _architecture(args, vocab)
    budget = Budget(
        steps=args.steps,
        tokens=args.tokens,
        flops=args.flops,
        batch_size=args.batch_size,
        lr=args.lr,
        eval_batches=args.eval_batches,
    )
    run = functools.partial(
        evaluate,
        arch,
        tasks,
        budget,
        args.seed,
        device=args.device,
        backend=args.backend,
        num_threads=args.threads,
    )
    if args.json:
        with TrainingProgress() as progress:
            metrics = run(on_step=progress.on_step, on_report=progress.on_report)
        record = {"arch": arch.to_dict(), "metrics": metrics.to_dict()}
        print(json.dumps({**record, "at_chance": _at_chance(metrics)}, indent=2))
        return 0 if metrics.status == "ok" else 1

    out = console()
    out.print(
        f"[bold]{escape(arch.layout)}[/bold]  {arch.family}, ratio {arch.ratio}, "
        f"d_model {arch.d_model}, {format_figure('params', param_count(arch), short=True)} "
        f"params, hash {arch.arch_hash}"
    )
    with TrainingProgress() as progress:
        metrics = run(on_step=progress.on_step, on_report=progress.on_report)
    for result in metrics.tasks.values():
        out.print(_curve_table(result))
        if result.clean is not None:
            out.print(_curve_table(result.clean, title="clean counterpart "))
    out.print(_final_table(metrics))
    for spec in _at_chance(metrics):
        result = metrics.tasks[spec]
        out.print(
            f"[yellow]{escape(spec)}: capability {result.capability:.3f} is at chance level "
            f"({get_task(spec).chance:.3g}): the model shows nothing learned at this budget; "
            "give it more --steps or an easier task[/yellow]",
            soft_wrap=True,
        )
    out.print(
        f"{metrics.tokens_per_s:,.0f} training tokens/s, {metrics.wall_s:.1f} s wall, peak memory "
        f"{format_figure('bytes', metrics.peak_memory_bytes, short=True)} ({metrics.memory_kind}), "
        f"{metrics.device} ({escape(metrics.device_name)}), {metrics.backend} backend, "
        f"{metrics.num_threads} threads"
    )
    if metrics.status != "ok":
        out.print(f"[red]{metrics.status}[/red]: {escape(metrics.error or '')}")
        return 1
    return 0


def _architecture(args: argparse.Namespace, task_vocab: int) -> ArchSpec:
    if args.space is not None:
        if args.d_model is not None or args.vocab_size is not None:
            raise UserError("--d-model and --vocab-size apply to --arch; a --space file sets them")
        return load_space(args.space, default_vocab_size=task_vocab).sample(1, args.sample_seed)[0]
    text, path = args.arch, Path(args.arch)
    if text.endswith(".json") and path.is_file():
        text = path.read_text(encoding="utf-8")
    overrides = {k: v for k, v in (("d_model", args.d_model), ("vocab_size", args.vocab_size)) if v}
    if not text.lstrip().startswith("{"):  # a bare pattern gets a vocabulary that fits the tasks
        overrides.setdefault("vocab_size", task_vocab)
    try:
        return ArchSpec.parse(text, **overrides)
    except (ValueError, TypeError) as exc:  # also json.JSONDecodeError and LayoutError
        raise UserError(f"--arch {args.arch}: {exc}") from None


def _at_chance(metrics: Metrics) -> list[str]:
    """The tasks whose final capability is not measurably above chance (Task.at_chance)."""
    return [
        spec
        for spec, result in metrics.tasks.items()
        if result.status == "ok"
        and "positions" in result.metrics
        and get_task(spec).at_chance(result.capability, result.metrics["positions"])
    ]


def _curve_table(result: TaskResult, title: str = "") -> Table:
    table = Table(title=f"{title}learning curve: {escape(result.task)}")
    extra = [key for key in (result.curve[0] if result.curve else {}) if key.startswith("eval_")]
    for header in ("step", "tokens", "FLOPs", "train loss", "capability", *extra):
        table.add_column(header.removeprefix("eval_"), justify="right")
    for point in result.curve:
        table.add_row(
            str(point["step"]),
            format_figure("tokens", point["tokens"], short=True),
            format_figure("flops", point["flops"], short=True),
            f"{point['loss']:.4f}",
            f"{point['capability']:.3f}",
            *(_number(point[key]) for key in extra),
        )
    return table


def _final_table(metrics: Metrics) -> Table:
    table = Table(title=f"final metrics (seed {metrics.seed}, status {metrics.status})")
    for header in ("task", "status", "capability", "chance", "metrics"):
        left = header in ("task", "metrics")
        table.add_column(header, justify="left" if left else "right", overflow="fold")
    for spec, result in metrics.tasks.items():
        shown = ", ".join(f"{key} {_number(value)}" for key, value in result.metrics.items())
        chance = f"{get_task(spec).chance:.3g}"
        table.add_row(
            escape(spec), result.status, f"{result.capability:.3f}", chance, escape(shown)
        )
    return table


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 10 else f"{value:.4g}"
