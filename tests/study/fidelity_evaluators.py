"""Evaluators with a planted ranking, for the ``nas fidelity`` tests (Ray workers import this
module by name, like ``study_evaluators``).

Capability is a fixed function of the architecture, task, budget and seed, so the rank
correlations a check must report are known exactly (``planted_capability``):

- ``mqar``: ``attention_fraction / 2 + d_state / 100`` (pure attention: 0.5); from
  :data:`LONG_STEPS` steps on, pure attention gains 0.2 and overtakes the best 1:1 hybrid
  (d_state 32, 0.57), here and in capability (the mean with a second task): one adjacent
  swap at the top of the ten quickstart architectures.
- any other task: the same ranking at every budget.
- ``reversed_at_length``: the short-budget order at short budgets, its exact reverse at
  long ones (every task).
- every seed adds ``0.001 * seed``: seeds agree exactly (seed-to-seed rho 1).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from nas.study.bench import zero_cost_evaluate

LONG_STEPS = 20


def planted_capability(arch: Any, task: str, steps: int, seed: int, reverse: bool = False) -> float:
    d_state = arch.ssm.d_state if arch.n_ssm else 0
    score = arch.attention_fraction / 2 + d_state / 100
    long = steps >= LONG_STEPS
    if reverse and long:
        score = 1.0 - score
    elif task.startswith("mqar") and long and arch.family == "attention":
        score += 0.2
    return score + 0.001 * seed


def _planted(arch: Any, tasks: Any, budget: Any, seed: int, reverse: bool, **kwargs: Any) -> Any:
    folder = Path(os.environ["NAS_TEST_MARKERS"])
    folder.mkdir(parents=True, exist_ok=True)
    steps = budget.steps_for(arch, 1)
    (folder / f"trained-{arch.arch_hash}-{steps}-{seed}-{time.time_ns()}").touch()
    on_report = kwargs.pop("on_report", None)

    def planted_report(report: Any) -> None:  # the streamed levels carry the planted values too
        final = planted_capability(arch, report.task, steps, seed, reverse)
        if on_report is not None:
            on_report(replace(report, capability=final * math.sqrt(report.fraction)))

    metrics = zero_cost_evaluate(arch, tasks, budget, seed, on_report=planted_report, **kwargs)
    results = {}
    for spec, result in metrics.tasks.items():
        final = planted_capability(arch, spec, steps, seed, reverse)
        curve = [
            {**entry, "capability": final * math.sqrt(entry["fraction"])} for entry in result.curve
        ]
        results[spec] = replace(result, capability=final, curve=curve)
    return replace(metrics, tasks=results)


def planted(arch: Any, tasks: Any, budget: Any, seed: int, **kwargs: Any) -> Any:
    return _planted(arch, tasks, budget, seed, False, **kwargs)


def reversed_at_length(arch: Any, tasks: Any, budget: Any, seed: int, **kwargs: Any) -> Any:
    return _planted(arch, tasks, budget, seed, True, **kwargs)


def planted_failing_once(arch: Any, tasks: Any, budget: Any, seed: int, **kwargs: Any) -> Any:
    """``planted``, but the first long run of pure attention raises (a failed trial)."""
    first = Path(os.environ["NAS_TEST_MARKERS"]) / f"failed-{arch.arch_hash}"
    if (
        arch.family == "attention"
        and budget.steps_for(arch, 1) >= LONG_STEPS
        and not first.exists()
    ):
        first.touch()
        raise RuntimeError("boom: a transient failure")
    return _planted(arch, tasks, budget, seed, False, **kwargs)
