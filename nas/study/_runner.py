"""The study driver: asks Optuna for architectures, runs their evaluations on Ray, and is
the one writer of the study's rows (Optuna's and the nas tables).

A trial is one architecture. Its evaluations (one per task and seed) run as separate Ray
tasks, up to ``execution.workers`` at once across trials, and stream their intermediate
evaluations back; multi-fidelity promotion (:mod:`nas.study._fidelity`) acts on those.
Cached evaluations (:mod:`nas.study._cache`) are reused instead of trained.

Trial outcomes
--------------
COMPLETE  every evaluation finished ``ok``: values are the objectives.
PRUNED    the architecture is infeasible (never trained), an evaluation diverged, or
          multi-fidelity promotion stopped it; ``fail_reason`` says which. Infeasible
          trials do not count toward ``n_trials``: it counts architectures trained.
FAIL      an evaluation failed or raised, or its worker died more than
          ``execution.max_retries`` times; ``fail_reason`` holds the message.
A FAIL without ``fail_reason`` was reclaimed (its driver stopped: heartbeat) or interrupted
(Ctrl-C); a waiting copy with the same parameters takes its place, so a rerun resumes it.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState
from sqlalchemy import text

from nas.db import schema
from nas.study import _execution
from nas.study._cache import Evaluation, ResultStore
from nas.study._fidelity import front_ranks, minimised, promote
from nas.study._storage import (
    create_or_load,
    first_heartbeat,
    masked,
    open_storage,
    retry_callback,
    set_user_attrs,
    stamp_unbeaten_trials,
)

if TYPE_CHECKING:
    from nas.arch import ArchSpec
    from nas.compute import ComputeFigures
    from nas.study._config import StudyConfig
    from nas.study._display import Display

_POLL_S = 0.5
# How an infeasible trial's fail_reason starts: counting and history tell them apart by it.
INFEASIBLE_PREFIX = "infeasible: "
_COUNT_TRIALS = text(
    "SELECT CASE WHEN t.state = 'PRUNED' AND EXISTS (SELECT 1 FROM trial_user_attributes a "
    "WHERE a.trial_id = t.trial_id AND a.key = 'fail_reason' "
    "AND a.value_json LIKE :infeasible) THEN 'INFEASIBLE' "
    "ELSE CAST(t.state AS VARCHAR(16)) END AS kind, COUNT(*) FROM trials t "
    "WHERE t.study_id = :study_id AND ("
    "t.state IN ('COMPLETE', 'PRUNED', 'RUNNING', 'WAITING') OR (t.state = 'FAIL' AND EXISTS ("
    "SELECT 1 FROM trial_user_attributes a WHERE a.trial_id = t.trial_id "
    "AND a.key = 'fail_reason'))) GROUP BY kind"
)
# Infeasible suggestions in a row after which a driver stops asking: the constraints leave
# (almost) nothing of the space for this sampler. A grid ends by itself when covered.
INFEASIBLE_STREAK_LIMIT = 1000


def is_infeasible(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether the trial was a suggestion pruned untrained for breaking a constraint."""
    return str(trial.user_attrs.get("fail_reason", "")).startswith(INFEASIBLE_PREFIX)


@dataclass
class _Unit:
    """One evaluation of a trial: its task and seed, and what is known of it so far."""

    run: _TrialRun
    task: str
    seed: int
    done: Evaluation | None = None  # finished ok (trained now or cached)
    partial: Evaluation | None = None  # a cached stopped run: serves the levels it reached
    reports: list[Any] = field(default_factory=list)  # Reports streamed by the running task
    attempts: int = 0
    generator: Any = None
    trained: bool = False

    def capability_at(self, fraction: float) -> float | None:
        for known in (self.done, self.partial):
            if known is not None and (value := known.capability_at(fraction)) is not None:
                return value
        for report in self.reports:
            if report.counterpart_of is None and report.step == max(
                1, round(fraction * report.steps)
            ):
                return float(report.capability)
        return None


@dataclass
class _TrialRun:
    trial: optuna.Trial
    arch: ArchSpec
    figures: ComputeFigures
    units: list[_Unit] = field(default_factory=list)
    level: int = 0
    rung_values: list[list[float]] = field(default_factory=list)
    followers: list[optuna.Trial] = field(default_factory=list)


@dataclass
class Counts:
    """What the driver has seen, for the progress view and the summary."""

    complete: int = 0
    pruned: int = 0  # trained, then pruned (diverged, or stopped by multi-fidelity)
    failed: int = 0
    infeasible: int = 0  # suggestions that broke a constraint: never trained, not counted
    running: int = 0  # trials in flight in this driver
    evaluations_running: int = 0
    trained: int = 0  # evaluations trained by this run
    cached: int = 0  # evaluations served from the cache
    stopped: int = 0  # evaluations cancelled by multi-fidelity promotion
    retried: int = 0  # evaluations restarted after their worker died
    trained_flops: float = 0.0  # training FLOPs spent by this run
    best: float | None = None  # best capability among complete trials
    pareto: int = 0  # size of the study's Pareto front
    eta_s: float | None = None


@dataclass
class RunResult:
    """The outcome of :func:`run_study`."""

    study_name: str
    storage: str  # masked
    counts: Counts
    best_trials: list[optuna.trial.FrozenTrial]
    objectives: list[str]
    directions: list[str]
    interrupted: bool
    wall_s: float
    gave_up: str | None = None  # why the driver stopped asking before n_trials, if it did


def run_study(
    config: StudyConfig,
    *,
    evaluator: str | Callable[..., Any] | None = None,
    display: Display | None = None,
) -> RunResult:
    """Create or resume the study of ``config`` and run it until it stops (see the module).

    ``evaluator`` replaces ``execution.evaluator`` (a callable with the signature of
    :func:`nas.proxy.evaluate`, or its ``module:function`` import path); workers must be
    able to import it. Returns when ``n_trials`` trials are finished in the study (counting
    earlier runs), when ``timeout`` has passed and the evaluations in flight are done, or
    on Ctrl-C (in-flight trials are marked and re-enqueued, so a rerun resumes them).

    Example:
        >>> from nas.study import load_study, run_study
        >>> result = run_study(load_study("studies/quickstart.yaml"))   # doctest: +SKIP
        >>> len(result.best_trials) > 0                                 # doctest: +SKIP
        True
    """
    runtime = _execution.start_ray(config.execution)  # before the database: fail early
    try:
        driver = _Driver(config, evaluator or config.execution.evaluator, display)
        return driver.run()
    finally:
        runtime.shutdown()


class _Driver:
    def __init__(
        self, config: StudyConfig, evaluator: str | Callable[..., Any], display: Display | None
    ) -> None:
        self.config = config
        self.evaluator = evaluator
        self.display = display
        self.counts = Counts()
        self.storage = open_storage(
            config.storage,
            heartbeat_interval=config.execution.heartbeat_interval,
            max_retry=config.execution.max_retries,
        )
        self.study, _ = create_or_load(config, self.storage)
        self.study_id = self.storage.get_study_id_from_name(config.name)
        self.store = ResultStore(self.storage.engine)
        self.budget_json = config.budget.key
        self.budget_hash = schema.budget_hash(self.budget_json)
        self.budget_dict = config.budget.to_dict()
        self.levels = config.fidelity.levels
        self.grid_size = (
            math.prod(len(v) for v in config.space.grid_search_space().values())
            if config.sampler == "grid"
            else None
        )
        self.rank_objectives = [o for o in config.objectives if o.kind != "measured"]
        self.in_flight: dict[int, _TrialRun] = {}  # trial number -> run
        self.by_hash: dict[str, _TrialRun] = {}  # architectures in flight here
        # architecture -> (state, values, user attrs, number) of its first finished trial
        self.finished_by_hash: dict[str, tuple[TrialState, Any, dict[str, Any], int]] = {}
        self.completed_values: dict[int, list[float]] = {}
        self.queue: deque[_Unit] = deque()
        self.running: dict[Any, _Unit] = {}
        self.stopping = False
        self.interrupted = False
        self.started = time.monotonic()
        self.finished_here = 0
        self.infeasible_streak = 0
        self.gave_up: str | None = None
        self.last_beat = 0.0
        self._load_history()

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> RunResult:
        try:
            with warnings.catch_warnings(), self._sigint(), self._showing():
                # ask/tell with heartbeats is what this driver does on purpose
                warnings.filterwarnings(
                    "ignore", message="Heartbeat of storage", category=UserWarning
                )
                warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
                self._note_running_elsewhere()
                while True:
                    self._maintain()
                    if self.stopping:
                        break
                    self._fill()
                    if not self.running and not self.queue and self._should_end():
                        break
                    self._wait()
                    self._show()
        finally:
            if self.in_flight:
                self._abandon_in_flight()
        return self._result()

    def _note_running_elsewhere(self) -> None:
        """Say why a resumed study may wait: trials another driver runs, or ran until it died."""
        running = self._study_counts()["running"]
        if running and self.display is not None:
            grace = 2 * self.config.execution.heartbeat_interval
            trials, they = ("trials are", "they are") if running > 1 else ("trial is", "it is")
            self.display.message(
                f"{running} {trials} RUNNING under another driver; if that driver stopped,"
                f" {they} failed and retried {grace} s after the last heartbeat"
            )

    def _should_end(self) -> bool:
        """Whether to stop, once nothing of this driver's runs or waits to run."""
        if self._past_deadline() or self.gave_up is not None:
            return True
        counts = self._study_counts()
        if self.grid_size is not None and self._grid_covered():
            # every point is taken; wait for other drivers' trials (they may be reclaimed)
            return counts["waiting"] == 0 and counts["running"] == 0
        if self.config.n_trials is None:
            return False
        return counts["finished"] >= self.config.n_trials or (
            counts["running"] == 0 and not self._may_ask()
        )

    def _past_deadline(self) -> bool:
        timeout = self.config.timeout
        return timeout is not None and time.monotonic() - self.started >= timeout

    def _grid_covered(self) -> bool:
        """Whether every grid point has a trial (finished, running or waiting to run).

        Optuna's GridSampler hands out running points again once all are taken (to keep
        distributed workers busy); the driver asks no more trials then instead.
        """
        taken = {
            t.system_attrs["grid_id"]
            for t in self.study.get_trials(deepcopy=False)
            if "grid_id" in t.system_attrs
        }
        return len(taken) >= (self.grid_size or 0)

    def _may_ask(self) -> bool:
        if self.stopping or self.gave_up is not None or self._past_deadline():
            return False
        if len(self.in_flight) + sum(len(r.followers) for r in self.in_flight.values()) >= (
            self.config.execution.workers
        ):
            return False  # trials in flight are capped by the workers
        counts = self._study_counts()
        if self.grid_size is not None and counts["waiting"] == 0 and self._grid_covered():
            return False
        if self.config.n_trials is None:
            return True
        return counts["finished"] + counts["running"] < self.config.n_trials

    def _study_counts(self) -> dict[str, int]:
        """Trials of the study, all drivers: ``finished`` counts COMPLETE, PRUNED and FAIL
        with a fail_reason (reclaimed and interrupted ones are retried), infeasible ones
        aside, and ``running`` and ``waiting`` (enqueued)."""
        with self.storage.engine.connect() as conn:
            # the attribute holds JSON text: the prefix after the opening quote
            infeasible = json.dumps(INFEASIBLE_PREFIX)[:-1] + "%"
            counts = conn.execute(
                _COUNT_TRIALS, {"study_id": self.study_id, "infeasible": infeasible}
            )
            rows = dict(counts.all())
        running, waiting = rows.pop("RUNNING", 0), rows.pop("WAITING", 0)
        rows.pop("INFEASIBLE", None)  # never trained: not counted toward n_trials
        return {"finished": sum(rows.values()), "running": running, "waiting": waiting}

    def _fill(self) -> None:
        while len(self.running) < self.config.execution.workers:
            if self.queue:
                self._launch(self.queue.popleft())
            elif self._may_ask():
                self._open_trial()
            else:
                return

    def _wait(self) -> None:
        import ray

        if not self.running:
            time.sleep(_POLL_S)  # other drivers' trials run: they may finish or go stale
            return
        ready, _ = ray.wait(list(self.running), num_returns=1, timeout=_POLL_S)
        for generator in ready:
            unit = self.running.get(generator)
            if unit is not None:
                self._receive(generator, unit)

    def _maintain(self) -> None:
        """Heartbeats for this driver's trials; reclaim trials of drivers that stopped."""
        now = time.monotonic()
        if now - self.last_beat < self.config.execution.heartbeat_interval / 2:
            return
        self.last_beat = now
        for run in self.in_flight.values():
            for trial in (run.trial, *run.followers):
                self.storage.record_heartbeat(trial._trial_id)
        stamp_unbeaten_trials(self.storage, self.study_id)
        optuna.storages.fail_stale_trials(self.study)

    # -- opening a trial ------------------------------------------------------------------
    def _open_trial(self) -> None:
        from nas.compute import estimate
        from nas.space import InfeasibleArchitecture

        trial = self.study.ask()
        first_heartbeat(self.storage, trial._trial_id)
        try:
            arch = self.config.space.suggest(trial)
        except InfeasibleArchitecture as error:
            self._reject(trial, str(error))
            return
        unmet = self.config.space.violations(arch) + [
            why for c in self.config.constraints if (why := c.violation(arch)) is not None
        ]
        if unmet:
            self._reject(trial, f"violates {unmet[0]}", _arch_attrs(arch))
            return
        self.infeasible_streak = 0
        figures = estimate(arch, seq_len=self.config.seq_len, context=self.config.context)
        self.store.record_architecture(arch, figures)
        if (earlier := self.finished_by_hash.get(arch.arch_hash)) is not None:
            self._copy(trial, *earlier)
            return
        if (leader := self.by_hash.get(arch.arch_hash)) is not None:
            leader.followers.append(trial)
            return
        run = _TrialRun(trial, arch, figures)
        for task in self.config.tasks:
            cached = (
                self.store.lookup(arch.arch_hash, task, self.budget_hash, list(self.config.seeds))
                if self.config.cache
                else {}
            )
            for seed in self.config.seeds:
                unit = _Unit(run, task, seed)
                found = cached.get(seed)
                if found is not None and found.status == "ok":
                    unit.done = found
                    self.counts.cached += 1
                elif found is not None:
                    unit.partial = found
                run.units.append(unit)
        self.in_flight[trial.number] = run
        self.by_hash[arch.arch_hash] = run
        self._advance(run)

    def _launch(self, unit: _Unit) -> None:
        if unit.run.trial.number not in self.in_flight:
            return  # the trial ended while this evaluation waited
        unit.reports = []
        unit.attempts += 1
        unit.generator = _execution.submit(
            self.evaluator,
            unit.run.arch.to_json(),
            unit.task,
            self.budget_dict,
            unit.seed,
            self.config.execution,
            reports=self.config.fidelity.enabled,
        )
        self.running[unit.generator] = unit

    # -- evaluation events ----------------------------------------------------------------
    def _receive(self, generator: Any, unit: _Unit) -> None:
        import ray

        try:
            kind, payload = ray.get(next(generator))
        except StopIteration:
            self.running.pop(generator, None)
            return
        except ray.exceptions.TaskCancelledError:
            self.running.pop(generator, None)
            return
        except ray.exceptions.RayTaskError as error:  # the task itself raised (not evaluate)
            self.running.pop(generator, None)
            reason = str(error.cause if error.cause is not None else error).strip().splitlines()
            self._stop(
                unit.run,
                TrialState.FAIL,
                f"{unit.task} seed {unit.seed}: {reason[-1] if reason else error}",
            )
            return
        except ray.exceptions.RayError as error:  # the worker died (killed, OOM, node lost)
            self.running.pop(generator, None)
            self._worker_died(unit, error)
            return
        if kind == "report":
            unit.reports.append(payload)
            self._advance(unit.run)
        elif kind == "result":
            self.running.pop(generator, None)
            self._result_of(unit, payload)
        else:
            self.running.pop(generator, None)
            self._stop(unit.run, TrialState.FAIL, f"{unit.task} seed {unit.seed}: {payload}")

    def _worker_died(self, unit: _Unit, error: Exception) -> None:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if unit.attempts <= self.config.execution.max_retries:
            self.counts.retried += 1
            self.queue.appendleft(unit)
            return
        self._stop(
            unit.run,
            TrialState.FAIL,
            f"{unit.task} seed {unit.seed}: the worker died {unit.attempts} times "
            f"(execution.max_retries = {self.config.execution.max_retries}); last: {reason}",
        )

    def _result_of(self, unit: _Unit, metrics_dict: dict[str, Any]) -> None:
        from nas.proxy import Metrics

        metrics = Metrics.from_dict(metrics_dict)
        result = metrics.tasks.get(unit.task) or next(iter(metrics.tasks.values()))
        evaluation = Evaluation(
            arch_hash=unit.run.arch.arch_hash,
            task=unit.task,
            budget_hash=self.budget_hash,
            budget_json=self.budget_json,
            seed=unit.seed,
            status=result.status,
            capability=result.capability,
            metrics=result.metrics,
            curve=result.curve,
            steps=int(
                result.metrics.get("steps") or (result.curve[-1]["step"] if result.curve else 0)
            ),
            error=result.error,
            clean=None if result.clean is None else result.clean.to_dict(),
            wall_s=metrics.wall_s,
            tokens_per_s=metrics.tokens_per_s,
            peak_memory_bytes=metrics.peak_memory_bytes,
            memory_kind=metrics.memory_kind,
            device=metrics.device,
            backend=metrics.backend,
            versions=metrics.versions,
            fidelity=len(self.levels) - 1,
        )
        self.store.insert(evaluation, self.config.name, unit.run.trial.number)
        unit.trained = True
        self.counts.trained += 1
        self.counts.trained_flops += _flops(result.metrics, result.curve)
        if result.status == "ok":
            unit.done = evaluation
            self._advance(unit.run)
            return
        state = TrialState.PRUNED if result.status == "diverged" else TrialState.FAIL
        self._stop(unit.run, state, f"{unit.task} seed {unit.seed} {result.status}: {result.error}")

    # -- promotion and completion ---------------------------------------------------------
    def _advance(self, run: _TrialRun) -> None:
        """Move the trial through the fidelity levels its evaluations have reached."""
        if run.trial.number not in self.in_flight:
            return
        last = len(self.levels) - 1
        while run.level < last:
            fraction = self.levels[run.level]
            capabilities = [u.capability_at(fraction) for u in run.units]
            if any(c is None for c in capabilities):
                break
            point = self._values(run, capabilities, self.rank_objectives)
            run.rung_values.append(point)
            run.trial.set_user_attr("rung_values", run.rung_values)
            if not promote(
                point,
                self._rung_points(run),
                [o.direction for o in self.rank_objectives],
                self.config.fidelity.eta,
            ):
                self._stop_at_level(run, fraction)
                return
            run.level += 1
        if all(u.done is not None for u in run.units):
            self._complete(run)
            return
        for unit in run.units:
            if unit.done is None and unit.generator is None and unit not in self.queue:
                self.queue.append(unit)

    def _rung_points(self, run: _TrialRun) -> list[list[float]]:
        """Values at ``run.level`` of the study's other trials that reached it."""
        points = []
        for trial in self.study.get_trials(deepcopy=False):
            rungs = trial.user_attrs.get("rung_values") or []
            if (
                trial.number != run.trial.number
                and "duplicate_of" not in trial.user_attrs
                and len(rungs) > run.level
            ):
                points.append(rungs[run.level])
        return points

    def _stop_at_level(self, run: _TrialRun, fraction: float) -> None:
        reason = (
            f"stopped at fidelity level {run.level} ({fraction:g} of the budget): not in the "
            f"top 1/{self.config.fidelity.eta:g} by non-dominated rank"
        )
        for unit in run.units:
            if unit.generator is not None and unit.generator in self.running and unit.reports:
                last = unit.reports[-1]
                evaluation = Evaluation(
                    arch_hash=run.arch.arch_hash,
                    task=unit.task,
                    budget_hash=self.budget_hash,
                    budget_json=self.budget_json,
                    seed=unit.seed,
                    status="stopped",
                    capability=float(last.capability),
                    metrics=dict(last.metrics),
                    curve=[r.curve_entry() for r in unit.reports if r.counterpart_of is None],
                    steps=last.steps,
                    fidelity=run.level,
                )
                self.store.insert(evaluation, self.config.name, run.trial.number)
                self.counts.stopped += 1
                self.counts.trained_flops += float(last.flops)
        self._stop(run, TrialState.PRUNED, reason)

    def _complete(self, run: _TrialRun) -> None:
        capabilities = [u.done.capability for u in run.units]  # type: ignore[union-attr]
        values = self._values(run, capabilities, self.config.objectives)
        self._finish(run, TrialState.COMPLETE, values, None)

    def _values(self, run: _TrialRun, capabilities: list[Any], objectives: Any) -> list[float]:
        """Objective values from per-unit capabilities (mean over seeds, weighted over tasks)."""
        per_task: dict[str, list[float]] = {}
        for unit, capability in zip(run.units, capabilities, strict=True):
            per_task.setdefault(unit.task, []).append(float(capability))
        weights = self.config.tasks
        capability = sum(weights[t] * sum(c) / len(c) for t, c in per_task.items()) / sum(
            weights.values()
        )
        done = [u.done for u in run.units if u.done is not None]
        values = []
        for objective in objectives:
            if objective.name == "capability":
                values.append(capability)
            elif objective.kind == "compute":
                values.append(float(getattr(run.figures, objective.name)))
            elif objective.name == "tokens_per_s":
                values.append(sum(d.tokens_per_s or 0.0 for d in done) / len(done))
            elif objective.name == "peak_memory_bytes":
                values.append(float(max(d.peak_memory_bytes or 0 for d in done)))
            else:  # wall_s: the architecture's training time, all evaluations
                values.append(sum(d.wall_s or 0.0 for d in done))
        return values

    def _stop(self, run: _TrialRun, state: TrialState, reason: str) -> None:
        self._finish(run, state, None, reason)

    def _finish(
        self, run: _TrialRun, state: TrialState, values: list[float] | None, reason: str | None
    ) -> None:
        if self.in_flight.pop(run.trial.number, None) is None:
            return
        self.by_hash.pop(run.arch.arch_hash, None)
        for unit in run.units:
            if unit.generator is not None and self.running.pop(unit.generator, None) is not None:
                _execution.cancel(unit.generator)
        done = [u.done for u in run.units if u.done is not None]
        attrs: dict[str, Any] = {
            **_arch_attrs(run.arch),
            "evaluation_ids": [d.evaluation_id for d in done],
            "fidelity": len(self.levels) - 1 if state == TrialState.COMPLETE else run.level,
            "budget_hash": self.budget_hash,
            "cached": bool(done) and not any(u.trained for u in run.units),
        }
        if values is not None and "capability" in self.config.objective_names:
            attrs["capability"] = values[self.config.objective_names.index("capability")]
        if reason is not None:
            attrs["fail_reason"] = reason
        self._tell(run.trial, state, values, attrs)
        if state != TrialState.FAIL:
            self.finished_by_hash[run.arch.arch_hash] = (state, values, attrs, run.trial.number)
        for follower in run.followers:
            self._copy(follower, state, values, attrs, run.trial.number)

    def _copy(
        self,
        trial: optuna.Trial,
        state: TrialState,
        values: list[float] | None,
        attrs: dict[str, Any],
        number: int,
    ) -> None:
        """Finish a duplicate of an architecture already run in this study with its outcome."""
        copied = {k: v for k, v in attrs.items() if k not in ("rung_values", "baseline")}
        self._tell(trial, state, values, {**copied, "duplicate_of": number})

    def _reject(self, trial: optuna.Trial, why: str, attrs: dict[str, Any] | None = None) -> None:
        """An infeasible suggestion: pruned untrained, so the sampler learns to avoid it."""
        attrs = {"fail_reason": INFEASIBLE_PREFIX + why, **(attrs or {})}
        set_user_attrs(self.storage, trial._trial_id, attrs)
        self.study.tell(trial, state=TrialState.PRUNED)
        self.counts.infeasible += 1
        self.infeasible_streak += 1
        if self.grid_size is None and self.infeasible_streak >= INFEASIBLE_STREAK_LIMIT:
            self.gave_up = (
                f"stopped asking: the last {self.infeasible_streak} suggestions all broke a "
                f"constraint (the last: {why}); "
                "loosen the constraints or narrow the space"
            )
        if self.display is not None:
            self.display.trial_finished(trial.number, "PRUNED", attrs, None)

    def _tell(
        self,
        trial: optuna.Trial,
        state: TrialState,
        values: list[float] | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> None:
        if attrs:
            set_user_attrs(self.storage, trial._trial_id, attrs)
        self.study.tell(trial, values=values, state=state)
        self.finished_here += 1
        if state == TrialState.COMPLETE:
            self.counts.complete += 1
            assert values is not None
            self.completed_values[trial.number] = list(values)
            self._update_front()
        elif state == TrialState.PRUNED:
            self.counts.pruned += 1
        else:
            self.counts.failed += 1
        if self.display is not None:
            self.display.trial_finished(trial.number, state.name, attrs or {}, values)

    # -- stopping -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _sigint(self) -> Iterator[None]:
        """First Ctrl-C: stop cleanly (cancel, mark, re-enqueue); a second one: raise."""
        import threading

        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            if self.stopping:
                raise KeyboardInterrupt
            self.stopping = self.interrupted = True
            if self.display is not None:
                self.display.message(
                    "stopping: cancelling evaluations in flight (Ctrl-C again to force)"
                )

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _abandon_in_flight(self) -> None:
        """Cancel what runs, mark its trials FAIL (no fail_reason: not counted) and enqueue
        them again, so that a rerun resumes them."""
        for generator in list(self.running):
            _execution.cancel(generator)
        self.running.clear()
        self.queue.clear()
        callback = retry_callback(self.config.execution.max_retries)
        for run in list(self.in_flight.values()):
            for trial in (run.trial, *run.followers):
                before = self.storage.get_trial(
                    trial._trial_id
                )  # the copy must not say interrupted
                trial.set_user_attr("interrupted", True)
                self.study.tell(trial, state=TrialState.FAIL)
                callback(self.study, before)
        self.in_flight.clear()

    # -- history, display, result ---------------------------------------------------------
    def _load_history(self) -> None:
        for trial in self.study.get_trials(deepcopy=False):
            arch_hash = trial.user_attrs.get("arch_hash")
            if trial.state == TrialState.COMPLETE:
                self.completed_values[trial.number] = list(trial.values)
            if (
                arch_hash
                and not is_infeasible(trial)
                and trial.state in (TrialState.COMPLETE, TrialState.PRUNED)
            ):
                self.finished_by_hash.setdefault(
                    arch_hash, (trial.state, trial.values, trial.user_attrs, trial.number)
                )
        self._update_front()

    def _update_front(self) -> None:
        if not self.completed_values:
            return
        values = list(self.completed_values.values())
        ranks = front_ranks(minimised(values, self.config.directions))
        self.counts.pareto = int((ranks == 0).sum())
        if "capability" in self.config.objective_names:
            index = self.config.objective_names.index("capability")
            self.counts.best = max(v[index] for v in values)

    @contextlib.contextmanager
    def _showing(self) -> Iterator[None]:
        if self.display is None:
            yield
            return
        with self.display.live(self.config, masked(self.config.storage)):
            yield

    def _show(self) -> None:
        if self.display is None:
            return
        self.counts.running = len(self.in_flight)
        self.counts.evaluations_running = len(self.running)
        self.counts.eta_s = self._eta()
        self.display.update(self.counts, time.monotonic() - self.started)

    def _eta(self) -> float | None:
        elapsed = time.monotonic() - self.started
        remaining_time = (
            None if self.config.timeout is None else max(0.0, self.config.timeout - elapsed)
        )
        if self.config.n_trials is None or self.finished_here == 0:
            return remaining_time
        left = max(0, self.config.n_trials - self._study_counts()["finished"])
        estimate = left * elapsed / self.finished_here
        return estimate if remaining_time is None else min(estimate, remaining_time)

    def _result(self) -> RunResult:
        best = self.study.best_trials if self.completed_values else []
        return RunResult(
            study_name=self.config.name,
            storage=masked(self.config.storage),
            counts=self.counts,
            best_trials=sorted(best, key=lambda t: t.number),
            objectives=self.config.objective_names,
            directions=self.config.directions,
            interrupted=self.interrupted,
            wall_s=time.monotonic() - self.started,
            gave_up=self.gave_up,
        )


def _arch_attrs(arch: ArchSpec) -> dict[str, Any]:
    return {"arch_hash": arch.arch_hash, "family": arch.family, "layout": arch.layout}


def _flops(metrics: dict[str, Any], curve: list[dict[str, Any]]) -> float:
    """Training FLOPs a finished run spent (its clean counterpart aside)."""
    if "flops" in metrics:
        return float(metrics["flops"])
    return float(curve[-1]["flops"]) if curve else 0.0
