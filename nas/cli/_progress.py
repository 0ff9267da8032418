"""Training progress on stderr for ``nas train``: steps, loss, capability so far and ETA.

On a terminal it is a live bar per task; elsewhere (a pipe, a log file, CI) one line at
each held-out evaluation and at least every ``_EVERY_S`` seconds, so a long run never
sits silent. It goes to stderr, so that ``--json`` and the tables on stdout stay clean.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from nas.proxy import Report

_EVERY_S = 10.0  # a progress line at least this often when stderr is not a terminal


class TrainingProgress:
    """Callbacks for :func:`nas.proxy.evaluate` (``on_step``, ``on_report``) that show progress.

    Example::

        with TrainingProgress() as progress:
            evaluate(arch, tasks, budget, 0, on_step=progress.on_step, on_report=progress.on_report)
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self._bar: Progress | None = None
        self._ids: dict[str, Any] = {}
        self._started: dict[str, float] = {}
        self._latest: dict[str, str] = {}  # task -> "loss 3.41, capability 0.031"
        self._last_line = 0.0

    def __enter__(self) -> TrainingProgress:
        if self.console.is_terminal:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[latest]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._bar.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, error, tb)

    def on_step(self, task: str, step: int, steps: int) -> None:
        now = time.monotonic()
        if task not in self._started:
            self._started[task] = now
            self._latest[task] = "loss -"
            if self._bar is not None:
                self._ids[task] = self._bar.add_task(escape(task), total=steps, latest="")
            else:
                self.console.print(f"training {task}: {steps} steps", markup=False, soft_wrap=True)
                self._last_line = now
        if self._bar is not None:
            self._bar.update(self._ids[task], completed=step, latest=escape(self._latest[task]))
        elif now - self._last_line >= _EVERY_S and step < steps:
            self._line(task, step, steps, now)

    def on_report(self, report: Report) -> None:
        self._latest[report.task] = f"loss {report.loss:.3f}, capability {report.capability:.3f}"
        if self._bar is None:
            self._line(report.task, report.step, report.steps, time.monotonic())

    def _line(self, task: str, step: int, steps: int, now: float) -> None:
        elapsed = now - self._started[task]
        eta = elapsed / step * (steps - step) if step else float("nan")
        done = "done" if step >= steps else f"ETA {eta:.0f} s"
        self.console.print(
            f"{task}: step {step}/{steps}, {self._latest[task]}, {elapsed:.0f} s, {done}",
            markup=False,
            soft_wrap=True,
        )
        self._last_line = now
