"""Evaluators for the study tests, with nas.proxy.evaluate's signature.

Ray workers import this module by name (the test session puts this folder on PYTHONPATH),
so each behaviour is a plain module-level function. Markers go to the folder named by
``NAS_TEST_MARKERS`` so that a test can see what the workers did.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from nas.study.bench import zero_cost_evaluate


def _marker(kind: str, arch: Any, tasks: Any, seed: int) -> Path:
    folder = Path(os.environ["NAS_TEST_MARKERS"])
    folder.mkdir(parents=True, exist_ok=True)
    return (
        folder
        / f"{kind}-{arch.arch_hash}-{abs(hash(tuple(map(str, tasks))))}-{seed}-{time.time_ns()}"
    )


def counting(arch: Any, tasks: Any, budget: Any, seed: int, **kwargs: Any) -> Any:
    """Zero cost, leaving one marker file per training run."""
    _marker("trained", arch, tasks, seed).touch()
    return zero_cost_evaluate(arch, tasks, budget, seed, **kwargs)


def slow(
    arch: Any, tasks: Any, budget: Any, seed: int, *, on_report: Any = None, **kwargs: Any
) -> Any:
    """Zero cost, but 0.3 s between intermediate evaluations (so that runs can be cancelled)."""

    def delayed(report: Any) -> None:
        time.sleep(0.3)
        if on_report is not None:
            on_report(report)

    _marker("trained", arch, tasks, seed).touch()
    return zero_cost_evaluate(arch, tasks, budget, seed, on_report=delayed, **kwargs)


def crash_once(arch: Any, tasks: Any, budget: Any, seed: int, **kwargs: Any) -> Any:
    """Kills its own worker (SIGKILL) the first time it sees an architecture."""
    folder = Path(os.environ["NAS_TEST_MARKERS"])
    folder.mkdir(parents=True, exist_ok=True)
    first = folder / f"crashed-{arch.arch_hash}-{seed}"
    if not first.exists():
        first.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return zero_cost_evaluate(arch, tasks, budget, seed, **kwargs)


def always_crash(arch: Any, tasks: Any, budget: Any, seed: int, **kwargs: Any) -> Any:
    os.kill(os.getpid(), signal.SIGKILL)


def raise_on_attention(arch: Any, tasks: Any, budget: Any, seed: int, **kwargs: Any) -> Any:
    """Raises for architectures with attention, works for the others."""
    if arch.n_attention:
        raise RuntimeError("boom: attention is not welcome here")
    return zero_cost_evaluate(arch, tasks, budget, seed, **kwargs)


def diverge_pure_ssm(arch: Any, tasks: Any, budget: Any, seed: int, **kwargs: Any) -> Any:
    """Pure-SSM architectures diverge (status "diverged", as evaluate reports it)."""
    metrics = zero_cost_evaluate(arch, tasks, budget, seed, **kwargs)
    if arch.family != "ssm":
        return metrics
    results = {
        spec: replace(result, status="diverged", capability=0.0, error="loss became nan at step 3")
        for spec, result in metrics.tasks.items()
    }
    return replace(metrics, status="diverged", error="loss became nan at step 3", tasks=results)
