"""Orchestration overhead of ``nas run``: trials/s with a zero-cost evaluator, against a plain
Optuna loop (``study.optimize``) with the same sampler, space and storage.

Run ``python -m nas.study.bench`` (``--trials``, ``--workers``, ``--samplers``). It prints
the median time per trial of both over ``--repeats`` alternate runs and their ratio per
sampler, and writes
``nas/study/bench_results.json``.
Ray's start-up is excluded (the runtime is started, and its workers warmed up by a short
study, first); everything the driver does per trial is included: suggestion, compute figures, cache lookup, the Ray
task, the nas tables, user attributes, heartbeats and the tell.

:func:`zero_cost_evaluate` is also the evaluator of the study tests: it has
:func:`nas.proxy.evaluate`'s signature, trains nothing, and returns at once a capability
that depends on the architecture the way the quickstart's does (attention helps recall,
more SSM state helps, a seed adds a little noise).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

_RESULTS = Path(__file__).with_name("bench_results.json")


def synthetic_capability(arch: Any, task: str, seed: int) -> float:
    """A deterministic stand-in capability in [0, 1] for ``arch`` on ``task``.

    >>> from nas.arch import ArchSpec
    >>> a = synthetic_capability(ArchSpec.parse("MMMA"), "mqar", 0)
    >>> b = synthetic_capability(ArchSpec.parse("MMMM"), "mqar", 0)
    >>> 0 <= b < a <= 1
    True
    """
    state = math.log2(arch.ssm.d_state) / 8 if arch.ssm else 0.0
    attention = min(1.0, 2 * arch.attention_fraction)
    noise = (
        int(hashlib.sha256(f"{arch.arch_hash}{task}{seed}".encode()).hexdigest()[:4], 16) / 2**16
    )
    return min(1.0, 0.25 + 0.45 * attention + 0.25 * state * (1 - attention) + 0.04 * noise)


def zero_cost_evaluate(
    arch: Any,
    tasks: Sequence[Any],
    budget: Any,
    seed: int,
    *,
    on_report: Callable[[Any], None] | None = None,
    **_: Any,
) -> Any:
    """:func:`nas.proxy.evaluate`'s contract without training: reports at every
    ``budget.eval_fractions`` and a result built from :func:`synthetic_capability`."""
    import platform

    from nas.proxy import Metrics, Report, TaskResult
    from nas.tasks import get_task

    results = {}
    for task in map(get_task, tasks):
        final = synthetic_capability(arch, task.spec, seed)
        steps = budget.steps_for(arch, task.seq_len)
        curve = []
        for step in budget.eval_steps(steps):
            fraction = step / steps
            report = Report(
                task=task.spec,
                step=step,
                steps=steps,
                tokens=step * budget.batch_size * task.seq_len,
                flops=float(step),
                loss=1.0 - final * fraction,
                capability=final * math.sqrt(fraction),
                metrics={"accuracy": final * math.sqrt(fraction)},
                wall_s=0.0,
            )
            curve.append(
                {
                    "step": step,
                    "fraction": fraction,
                    "capability": report.capability,
                    "flops": report.flops,
                }
            )
            if on_report is not None:
                on_report(report)
        metrics = {
            "steps": steps,
            "tokens": steps * budget.batch_size * task.seq_len,
            "flops": float(steps),
        }
        results[task.spec] = TaskResult(task.spec, "ok", final, metrics, curve)
    return Metrics(
        status="ok",
        error=None,
        tasks=results,
        tokens_per_s=1.0,
        wall_s=0.0,
        peak_memory_bytes=0,
        memory_kind="rss",
        device="cpu",
        device_name=platform.processor() or "cpu",
        backend="none",
        versions={},
        seed=seed,
        arch_hash=arch.arch_hash,
        budget=budget.to_dict(),
        num_threads=1,
    )


def _study_file(directory: Path, sampler: str, trials: int, workers: int) -> Path:
    space = Path(__file__).resolve().parents[2] / "search_spaces" / "state_size.yaml"
    path = directory / "bench.yaml"
    path.write_text(
        f'name: bench\nspace: {space}\ntasks: ["mqar:seq_len=64"]\n'
        "budget: {steps: 100}\nobjectives: {capability: maximize, state_bytes: minimize}\n"
        f"sampler: {{name: {sampler}, seed: 0}}\nn_trials: {trials}\n"
        f"execution: {{workers: {workers}, heartbeat_interval: 60}}\n"
        f"storage: sqlite:///{directory}/nas.db\ncache: true\n"
    )
    return path


def _plain_optuna(config: Any, directory: Path) -> float:
    """Seconds for ``study.optimize`` with the same sampler, space, storage kind and evaluator."""
    import optuna

    from nas.compute import estimate
    from nas.study._storage import make_sampler, open_storage

    storage = open_storage(f"sqlite:///{directory}/plain.db", heartbeat_interval=60, max_retry=0)
    study = optuna.create_study(
        storage=storage, directions=config.directions, sampler=make_sampler(config, 0)
    )
    task = next(iter(config.tasks))

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        arch = config.space.suggest(trial)
        metrics = zero_cost_evaluate(arch, [task], config.budget, 0)
        figures = estimate(arch, seq_len=config.seq_len, context=config.context)
        return metrics.capability(), float(figures.state_bytes)

    started = time.perf_counter()
    study.optimize(objective, n_trials=config.n_trials)
    return time.perf_counter() - started


def _compare(sampler: str, trials: int, workers: int, repeats: int) -> dict[str, Any]:
    """Both loops with one sampler, ``repeats`` times back to back (fresh databases each
    time); medians are kept, the ratio being the median of the pairs' ratios (the shared
    machine's load drifts between pairs more than within one). Ray is started, and its
    workers warmed up, once per sampler."""
    import statistics

    import ray

    from nas.study import Display, load_study, run_study

    plain, nas = [], []
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        try:
            for repeat in range(repeats):
                directory = Path(tmp) / str(repeat)
                directory.mkdir()
                config = load_study(_study_file(directory, sampler, trials, workers))
                if repeat == 0:  # start-up excluded: workers that have imported torch and nas
                    warm_up = replace(config, name="warm-up", n_trials=4 * workers)
                    run_study(warm_up, evaluator=zero_cost_evaluate, display=Display("quiet"))
                    warm_up_s = time.perf_counter() - started
                plain.append(_plain_optuna(config, directory) / trials)
                started = time.perf_counter()
                result = run_study(config, evaluator=zero_cost_evaluate, display=Display("quiet"))
                counts = result.counts
                nas.append(
                    (time.perf_counter() - started)
                    / (counts.complete + counts.pruned + counts.failed)
                )
        finally:
            ray.shutdown()
    plain_s, nas_s = statistics.median(plain), statistics.median(nas)
    ratios = [n / p for n, p in zip(nas, plain, strict=True)]  # each pair ran back to back
    return {
        "sampler": sampler,
        "trials": trials,
        "workers": workers,
        "repeats": repeats,
        "storage": "sqlite (WAL)",
        "plain_optuna_ms_per_trial": round(1000 * plain_s, 2),
        "nas_run_ms_per_trial": round(1000 * nas_s, 2),
        "ratio": round(statistics.median(ratios), 3),
        "ratios_per_repeat": [round(r, 3) for r in ratios],
        "ray_start_and_warm_up_s": round(warm_up_s, 1),
    }


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    import logging

    parser = argparse.ArgumentParser(
        prog="python -m nas.study.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--repeats", type=int, default=3, help="alternate runs per sampler (medians)"
    )
    parser.add_argument(
        "--samplers",
        nargs="+",
        default=["random", "tpe", "nsgaii"],
        choices=("random", "tpe", "nsgaii"),
    )
    parser.add_argument("--out", type=Path, default=_RESULTS)
    args = parser.parse_args(argv)
    logging.getLogger("optuna").setLevel(logging.WARNING)

    runs = [_compare(s, args.trials, args.workers, args.repeats) for s in args.samplers]
    print(
        f"{args.trials} trials each, SQLite, {args.workers} workers, zero-cost evaluator, "
        f"medians of {args.repeats}"
    )
    print(f"{'sampler':8s} {'plain optuna':>14s} {'nas run':>14s} {'ratio':>7s}")
    for run in runs:
        print(
            f"{run['sampler']:8s} {run['plain_optuna_ms_per_trial']:9.1f} ms/tr "
            f"{run['nas_run_ms_per_trial']:9.1f} ms/tr {run['ratio']:6.2f}x  "
            f"(each: {', '.join(f'{r:.2f}' for r in run['ratios_per_repeat'])})"
        )
    print("target: <= 1.2x; Ray start-up and worker warm-up excluded")
    args.out.write_text(json.dumps(runs, indent=2) + "\n")
    return runs


if __name__ == "__main__":
    main()
