"""What ``nas run`` shows: a live progress view while it runs, and the Pareto front at the end."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from nas.units import short_figure

if TYPE_CHECKING:
    import pandas as pd

    from nas.study._config import StudyConfig
    from nas.study._runner import Counts, RunResult

Mode = Literal["live", "lines", "quiet"]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else f"{seconds // 60}m{seconds % 60:02d}s"
    )


class Display:
    """Progress of a running study on ``console`` (stderr by default).

    ``live`` redraws a panel in place (a terminal); ``lines`` prints one line per finished
    trial (logs, pipes); ``quiet`` prints nothing.
    """

    def __init__(self, mode: Mode | None = None, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.mode: Mode = mode or ("live" if self.console.is_terminal else "lines")
        self._live: Live | None = None
        self._title = ""
        self._counts: Counts | None = None
        self._elapsed = 0.0
        self._objectives: list[str] = []

    @contextlib.contextmanager
    def live(self, config: StudyConfig, storage: str) -> Iterator[None]:
        self._title = f"study {config.name} · {storage}"
        self._objectives = config.objective_names
        if self.mode == "quiet":
            yield
            return
        if self.mode == "lines":
            self.console.print(self._title, soft_wrap=True)
            yield
            return
        with Live(
            self._panel(), console=self.console, refresh_per_second=4, transient=False
        ) as live:
            self._live = live
            try:
                yield
            finally:
                live.update(self._panel())
                self._live = None

    def update(self, counts: Counts, elapsed: float) -> None:
        self._counts, self._elapsed = counts, elapsed
        if self._live is not None:
            self._live.update(self._panel())

    def trial_finished(
        self, number: int, state: str, attrs: dict[str, Any], values: list[float] | None
    ) -> None:
        if self.mode != "lines":
            return
        what = attrs.get("layout", "")
        if values is not None:
            shown = ", ".join(
                f"{n}={short_figure(v, n)}" for n, v in zip(self._objectives, values, strict=True)
            )
        else:
            shown = attrs.get("fail_reason", "")
        suffix = (
            " (duplicate)"
            if "duplicate_of" in attrs
            else " (cached)"
            if attrs.get("cached")
            else ""
        )
        self.console.print(
            f"trial {number} {state} {what} {shown}{suffix}", highlight=False, soft_wrap=True
        )

    def message(self, text: str) -> None:
        if self.mode != "quiet":
            self.console.print(text, highlight=False, soft_wrap=True)

    def _panel(self) -> Table:
        grid = Table.grid(padding=(0, 2))
        grid.add_row(Text(self._title, style="bold"))
        c = self._counts
        if c is None:
            grid.add_row("starting ...")
            return grid
        grid.add_row(
            f"done {c.complete}  running {c.running}  pruned {c.pruned}  failed {c.failed}"
            f"  infeasible {c.infeasible}"
            f"  ·  best capability {short_figure(c.best, 'capability')}  ·  Pareto front {c.pareto}"
        )
        grid.add_row(
            f"evaluations: running {c.evaluations_running}  trained {c.trained}  cached {c.cached}"
            f"  stopped early {c.stopped}  retried {c.retried}"
            f"  ·  elapsed {_duration(self._elapsed)}  ETA {_duration(c.eta_s)}"
        )
        return grid


def pareto_table(result: RunResult) -> Table:
    """The study's Pareto front (Optuna's ``best_trials``) as a table, best first by the first
    objective; an architecture tried by several trials is one row, its first trial's, with
    the number of trials it stands for."""
    unique: dict[str, Any] = {}
    tries: dict[str, int] = {}
    for trial in sorted(result.best_trials, key=lambda t: t.number):
        key = trial.user_attrs.get("arch_hash", str(trial.number))
        unique.setdefault(key, trial)
        tries[key] = tries.get(key, 0) + 1
    count = f"{len(unique)} architecture{'' if len(unique) == 1 else 's'}"
    table = Table(title=f"Pareto front of {result.study_name} ({count})")
    params = sorted({name for t in result.best_trials for name in t.params})
    short = {p: p.rpartition(".")[2] for p in params}
    if len(set(short.values())) < len(short):  # two sections share a key: keep the paths
        short = {p: p for p in params}
    for column in ("trial", "trials", "family", "layout", *short.values()):
        table.add_column(column, justify="right" if column == "trials" else "left")
    for name, direction in zip(result.objectives, result.directions, strict=True):
        table.add_column(
            f"{name} {'↑' if direction == 'maximize' else '↓'}", justify="right", no_wrap=True
        )
    first = 0
    reverse = result.directions[first] == "maximize" if result.directions else False
    for key, trial in sorted(unique.items(), key=lambda kv: kv[1].values[first], reverse=reverse):
        table.add_row(
            str(trial.number),
            str(tries[key]),
            str(trial.user_attrs.get("family", "")),
            str(trial.user_attrs.get("layout", "")),
            *(_param(trial.params.get(p)) for p in params),
            *(short_figure(v, n) for n, v in zip(result.objectives, trial.values, strict=True)),
        )
    return table


def _param(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def chance_lines(scores: pd.DataFrame, front: Sequence[int] = ()) -> list[str]:
    """One line per task on which some architectures are at chance level
    (:meth:`nas.tasks.Task.at_chance`), from :meth:`nas.db.Database.task_scores`.

    Such a capability says nothing about the architecture at this budget; when every
    architecture is there, the study cannot rank them on that task at all.
    """
    from nas.tasks import get_task

    lines = []
    for (task, label), rows in scores.groupby(["task", "label"], sort=False):
        per_arch = rows.groupby("number").agg(capability=("capability", "mean"),
                                              positions=("positions", "sum"))  # fmt: skip
        per_arch = per_arch[per_arch["positions"].notna()]
        spec = get_task(task)
        low = [int(n) for n, r in per_arch.iterrows() if spec.at_chance(r.capability, r.positions)]
        if not low:
            continue
        on_front = [n for n in low if n in set(front)]
        which = (
            "every architecture: the study cannot rank them on it at this budget"
            if len(low) == len(per_arch)
            else f"{len(low)} of {len(per_arch)} architectures (trials {_numbers(low)})"
        )
        front_note = (
            f", {len(on_front)} of them on the front"
            if on_front and len(low) < len(per_arch)
            else ""
        )
        lines.append(f"at chance level on {label} (chance {spec.chance:.3g}): {which}{front_note}")
    return lines


def _numbers(numbers: Sequence[int], shown: int = 8) -> str:
    head = ", ".join(map(str, numbers[:shown]))
    return head + (f" and {len(numbers) - shown} more" if len(numbers) > shown else "")
