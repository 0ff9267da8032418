"""evaluate(): train one fresh proxy model per task within a budget, and measure it.

A pure function of its arguments (no database, no files written): the same architecture,
tasks, budget and seed give the same metrics on CPU, timings aside.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import math
import platform
import time
import traceback
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path

import psutil
import torch
import torch.nn.functional as F

from kernels import resolve_backend
from nas.arch import ArchSpec
from nas.compute import train_flops_per_token
from nas.errors import UserError
from nas.models import build_model
from nas.proxy._budget import Budget
from nas.proxy._metrics import Metrics, Report, Status, TaskResult
from nas.tasks import Batch, Tally, Task, get_task, tally

EVAL_SEED = 0  # the held-out batches: the same for every architecture and training seed
EXPLODED = 100.0  # a loss this many times that of uniform guessing has blown up, finite or not
_PACKAGES = ("torch", "triton", "numpy", "nas-hybrid")


@dataclass(frozen=True)
class _Progress:
    task: str
    step: int
    steps: int


def evaluate(
    arch: ArchSpec,
    tasks: Sequence[str | Task],
    budget: Budget,
    seed: int,
    *,
    device: str | torch.device = "cpu",
    backend: str = "auto",
    on_report: Callable[[Report], None] | None = None,
    on_step: Callable[[str, int, int], None] | None = None,
    num_threads: int | None = None,
) -> Metrics:
    """Train a fresh model of ``arch`` on each task for ``budget``, and score it on held-out data.

    Each task gets its own model, initialised from ``seed`` (the same initial weights for
    every task) and trained on the task's ``train`` stream for that seed; it is scored on
    ``budget.eval_batches`` fixed held-out batches after each of ``budget.eval_fractions``,
    and each such evaluation is passed to ``on_report`` as it happens. ``on_step(task, step,
    steps)`` is called after every optimizer step (for progress bars). A filler task
    (``filler=k``) also trains its clean counterpart with the same steps and batch size and
    reports ``clean_capability`` and ``filler_gap``.

    Raises :class:`~nas.errors.UserError` before training for unknown tasks, an architecture
    whose vocabulary is smaller than a task's, or an unknown backend or device. A loss that
    becomes NaN/inf, or over ``EXPLODED`` (100) times the loss of uniform guessing (ln of the
    vocabulary), ends that task with status "diverged", any other training error with
    "failed" (message and location in ``error``); neither raises. Exceptions raised by the
    callbacks propagate (so that a caller can stop an evaluation, e.g. to prune).

    ``num_threads`` sets torch's CPU threads for the call (restored afterwards): give each
    of several workers on one machine its share of the cores.

    Example:
        >>> from nas.arch import ArchSpec
        >>> arch = ArchSpec.parse("MA", d_model=32, vocab_size=64)
        >>> metrics = evaluate(arch, ["mqar:num_kv_pairs=2,seq_len=16"], Budget(steps=4), seed=0)
        >>> metrics.status, sorted(metrics.tasks), len(metrics.tasks[next(iter(metrics.tasks))].curve)
        ('ok', ['mqar:filler=0,gap_power=1.0,num_kv_pairs=2,seq_len=16,vocab_size=64'], 3)
    """
    started = time.perf_counter()
    if isinstance(tasks, (str, Task)):  # one task given bare
        tasks = [tasks]
    resolved = list({task.spec: task for task in map(get_task, tasks)}.values())
    if not resolved:
        raise UserError("evaluate needs at least one task")
    for task in resolved:
        if arch.vocab_size < task.vocab_size:
            raise UserError(
                f"the architecture's vocab_size={arch.vocab_size} is smaller than the "
                f"{task.vocab_size} tokens of task {task.spec}; give it vocab_size >= {task.vocab_size}"
            )
    device = check_device(device)
    try:
        concrete_backend = resolve_backend(backend, device)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if num_threads is not None and num_threads < 1:
        raise UserError(f"num_threads must be >= 1, got {num_threads}")

    meter = _Meter(device)
    runs: dict[tuple[str, int], TaskResult] = {}  # (spec, steps): a clean run serves twice

    def run(task: Task, steps: int, counterpart_of: str | None) -> TaskResult:
        if (task.spec, steps) not in runs:
            curve: list[dict[str, float]] = []
            training = _train(
                arch, task, steps, budget, seed, device, backend, meter, counterpart_of, curve
            )
            runs[task.spec, steps] = _drive(training, task.spec, curve, on_report, on_step)
        return runs[task.spec, steps]

    results: dict[str, TaskResult] = {}
    with _torch_threads(num_threads):
        for task in resolved:
            steps = budget.steps_for(arch, task.seq_len)
            result = run(task, steps, None)
            if task.filler:
                result = _with_gap(result, run(task.clean, steps, task.spec))
            results[task.spec] = result
        threads = torch.get_num_threads()

    bad = [r for r in results.values() if r.status != "ok"]
    status: Status = "ok"
    if bad:
        status = "failed" if any(r.status == "failed" for r in bad) else "diverged"
    first_bad = next((r for r in bad if r.status == status), None)
    return Metrics(
        status=status,
        error=f"{first_bad.task}: {first_bad.error}" if first_bad else None,
        tasks=results,
        tokens_per_s=meter.tokens / meter.train_s if meter.train_s > 0 else 0.0,
        wall_s=time.perf_counter() - started,
        peak_memory_bytes=meter.peak_bytes(),
        memory_kind=meter.kind,
        device=str(device),
        device_name=_device_name(device),
        backend=concrete_backend,
        versions=_versions(),
        seed=seed,
        arch_hash=arch.arch_hash,
        budget=budget.to_dict(),
        num_threads=threads,
    )


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch.device that torch can train on here; raises UserError for a
    malformed name, CUDA asked for where torch sees none, or a CUDA index past the last. The
    study's preflight and ``nas train`` call it before building anything.

    Example:
        >>> check_device("cpu")
        device(type='cpu')
    """
    try:
        device = torch.device(device)
    except RuntimeError:
        raise UserError(f"unknown device {device!r}: use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device {device} was asked for, but torch sees no CUDA device here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(
                f"device {device} was asked for, but torch sees {torch.cuda.device_count()} "
                "CUDA device(s) here"
            )
    return device


def _drive(
    run: Generator[Report | _Progress, None, TaskResult],
    spec: str,
    curve: list[dict[str, float]],
    on_report: Callable[[Report], None] | None,
    on_step: Callable[[str, int, int], None] | None,
) -> TaskResult:
    """Run a training generator; its errors become a "failed" result (with the ``curve`` it
    had recorded), the callbacks' errors propagate."""
    while True:
        try:
            event = next(run)
        except StopIteration as stop:
            return stop.value
        except Exception as exc:  # a training error is a result, not the caller's crash
            run.close()
            return TaskResult(spec, "failed", 0.0, {}, curve, error=_describe(exc))
        if isinstance(event, _Progress):
            if on_step is not None:
                on_step(event.task, event.step, event.steps)
            continue
        if on_report is not None:
            on_report(event)


def _train(
    arch: ArchSpec,
    task: Task,
    steps: int,
    budget: Budget,
    seed: int,
    device: torch.device,
    backend: str,
    meter: _Meter,
    counterpart_of: str | None,
    curve: list[dict[str, float]],
) -> Generator[Report | _Progress, None, TaskResult]:
    """Train one model on one task, yielding progress and evaluations (each also appended to
    ``curve``); return its result."""
    started = time.perf_counter()
    tokens_per_step = budget.batch_size * task.seq_len
    flops_per_token = train_flops_per_token(arch, task.seq_len)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)  # the initial weights depend on the seed only
        model = build_model(arch, backend=backend).to(device)
    optimizer = _adamw(model, budget)
    held_out = [
        batch.to(device)
        for batch in islice(
            task.batches("eval", budget.eval_batch_size or budget.batch_size, EVAL_SEED),
            budget.eval_batches,
        )
    ]
    train_stream = task.batches("train", budget.batch_size, seed)
    eval_steps = set(budget.eval_steps(steps))
    capability, metrics, train_s, interval_loss, interval_steps = 0.0, {}, 0.0, 0.0, 0

    def result(status: Status, error: str | None = None) -> TaskResult:
        done = curve[-1]["step"] if curve else 0
        totals = {
            "steps": done,
            "tokens": done * tokens_per_step,
            "flops": done * tokens_per_step * flops_per_token,
            "train_s": train_s,
        }
        final = capability if status == "ok" else 0.0
        return TaskResult(task.spec, status, final, {**metrics, **totals}, curve, error)

    for step in range(steps):
        lr = budget.lr_at(step, steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = next(train_stream).to(device)
        tick = time.perf_counter()
        model.train()
        loss = _masked_loss(model(batch.inputs), batch)
        meter.sample()
        problem = _divergence("training", loss.item(), arch.vocab_size)
        if problem:
            return result("diverged", _diverged(problem, step, steps, lr, budget))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), budget.grad_clip)
        optimizer.step()
        interval_loss += loss.item()  # waits for the GPU, so the timing below is honest
        interval_steps += 1
        elapsed = time.perf_counter() - tick
        train_s += elapsed
        meter.add_training(tokens_per_step, elapsed)
        yield _Progress(task.spec, step + 1, steps)
        if step + 1 not in eval_steps:
            continue

        capability, metrics = _score(model, task, held_out)
        problem = _divergence("held-out", metrics["loss"], arch.vocab_size)
        if problem:
            return result("diverged", _diverged(problem, step, steps, lr, budget))
        tokens = (step + 1) * tokens_per_step
        report = Report(
            task=task.spec,
            step=step + 1,
            steps=steps,
            tokens=tokens,
            flops=tokens * flops_per_token,
            loss=interval_loss / interval_steps,
            capability=capability,
            metrics=metrics,
            wall_s=time.perf_counter() - started,
            counterpart_of=counterpart_of,
        )
        curve.append(report.curve_entry())
        interval_loss, interval_steps = 0.0, 0
        yield report
    return result("ok")


def _diverged(problem: str, step: int, steps: int, lr: float, budget: Budget) -> str:
    """The divergence message: where, and the lr of that step beside the budget's (warm-up
    and decay make them differ, and the budget's is the one to lower)."""
    at = "" if math.isclose(lr, budget.lr) else f"; at this step of the schedule {lr:.3g}"
    return (
        f"{problem} at step {step + 1} of {steps} (budget lr {budget.lr:.3g}{at}); "
        "try a lower budget lr"
    )


def _divergence(which: str, loss: float, vocab_size: int) -> str | None:
    """Why a loss counts as diverged (NaN/inf, or EXPLODED times uniform guessing), or None."""
    uniform = math.log(vocab_size)
    if not math.isfinite(loss):
        return f"the {which} loss became {loss}"
    if loss > EXPLODED * uniform:
        return (
            f"the {which} loss exploded to {loss:.3g}, over {EXPLODED:g}x the {uniform:.2f} "
            "of uniform guessing"
        )
    return None


def _masked_loss(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Mean cross-entropy over the batch's loss positions."""
    mask = batch.loss_mask
    return F.cross_entropy(logits[mask].float(), batch.targets[mask])


@torch.no_grad()
def _score(
    model: torch.nn.Module, task: Task, held_out: list[Batch]
) -> tuple[float, dict[str, float]]:
    model.eval()
    total = Tally()
    for batch in held_out:
        total = total + tally(model(batch.inputs), batch)
    return task.summarize(total)


def _adamw(model: torch.nn.Module, budget: Budget) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not norms, biases, or ``_no_weight_decay``)."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        exempt = parameter.dim() < 2 or getattr(parameter, "_no_weight_decay", False)
        (no_decay if exempt else decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": budget.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=budget.lr, betas=budget.betas)


def _with_gap(result: TaskResult, clean: TaskResult) -> TaskResult:
    """A filler task's result with its clean counterpart attached, and the gap when both ran."""
    metrics = dict(result.metrics)
    if result.status == "ok" and clean.status == "ok":
        metrics["clean_capability"] = clean.capability
        metrics["filler_gap"] = clean.capability - result.capability
    return replace(result, metrics=metrics, clean=clean)


def _describe(exc: BaseException) -> str:
    """``Type: message (at file:line in function)`` of the innermost frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = (
        f" (at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    )
    return f"{type(exc).__name__}: {exc}{where}"


class _Meter:
    """Training tokens and seconds, and peak memory (CUDA allocator, or sampled process RSS)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.tokens, self.train_s, self._peak_rss = device, 0, 0.0, 0
        self.kind = "cuda_allocator" if device.type == "cuda" else "rss"
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        else:
            self._process = psutil.Process()
            self.sample()

    def sample(self) -> None:
        if self.device.type != "cuda":
            self._peak_rss = max(self._peak_rss, self._process.memory_info().rss)

    def add_training(self, tokens: int, seconds: float) -> None:
        self.tokens += tokens
        self.train_s += seconds

    def peak_bytes(self) -> int:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        return self._peak_rss


@contextlib.contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU model (from /proc/cpuinfo on Linux)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    return versions
