"""``nas fidelity``: does a study's ranking survive a longer budget? Train its architectures
at the study's budget and at ``factor`` times it, with K seeds, and read the answer back.

The plan
--------
1. Architectures: the study's complete trials (one per distinct architecture) when the
   database holds any, else a stratified sample of the space: every (family, ratio)
   stratum first, then round robin over the strata (each stratum's order drawn with the
   study's sampler seed), feasible under the space's and the study's constraints.
   ``architectures`` caps the count (default :data:`DEFAULT_ARCHITECTURES`, and never
   fewer than the strata of a sample); ``"all"`` takes every one.
2. Seeds: the study's own first, then the next integers, K in all.
3. Two companion studies, ordinary ones in the same database: ``<study>.fidelity-<id>.x1``
   at the study's budget and ``<study>.fidelity-<id>.x<factor>`` at
   :meth:`StudyConfig.scaled`, each with the chosen architectures as baselines, K seeds and
   no multi-fidelity pruning. ``<id>`` hashes the architectures and seeds, so rerunning the
   same command resumes the same studies, and a larger plan makes new ones. Both run
   through :func:`nas.study.run_study`: the same Ray workers, heartbeats and cache, so an
   evaluation already in the database (architecture, task, budget hash, seed) is reused,
   the study's own runs at its budget included.
4. The figures come from :meth:`nas.db.Database.fidelity`, computed from the stored
   evaluations (see :mod:`nas.db._fidelity`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from nas.db._fidelity import CHECK_KEY
from nas.errors import UserError
from nas.study._config import Baseline, Fidelity, StudyConfig

if TYPE_CHECKING:
    from nas.arch import ArchSpec
    from nas.db import FidelityResult
    from nas.study._display import Display
    from nas.study._runner import RunResult

DEFAULT_FACTOR = 4.0
DEFAULT_SEEDS = 2
DEFAULT_ARCHITECTURES = 12
_GRID_LIMIT = 20_000  # parameter combinations a sample enumerates; beyond, random draws
_DRAWS = 4_000
T = TypeVar("T")


@dataclass(frozen=True)
class Candidate:
    """An architecture to check: the parameters that make it, and where it came from."""

    params: dict[str, Any]
    arch: ArchSpec
    label: str

    @property
    def stratum(self) -> tuple[str, str]:
        return (self.arch.family, self.arch.ratio)


@dataclass(frozen=True)
class FidelityPlan:
    """What a check trains: the architectures, the seeds, the factor, and its id."""

    study: str
    factor: float
    seeds: tuple[int, ...]
    candidates: tuple[Candidate, ...]
    source: Literal["trials", "sample"]

    @property
    def check(self) -> str:
        """Hash of the study, architectures and seeds: the companion studies' shared id."""
        text = json.dumps(
            {"study": self.study, "seeds": list(self.seeds),
             "architectures": sorted(c.arch.arch_hash for c in self.candidates)},
            sort_keys=True,
        )  # fmt: skip
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    def study_name(self, factor: float) -> str:
        return f"{self.study}.fidelity-{self.check}.x{factor:g}"


@dataclass
class FidelityRun:
    """The outcome of :func:`run_fidelity`: the plan, both companion runs and the figures
    (None when interrupted)."""

    plan: FidelityPlan
    runs: list[RunResult]
    results: list[FidelityResult] | None

    @property
    def interrupted(self) -> bool:
        return any(run.interrupted for run in self.runs)


def run_fidelity(
    config: StudyConfig,
    *,
    factor: float = DEFAULT_FACTOR,
    architectures: int | Literal["all"] | None = None,
    seeds: int = DEFAULT_SEEDS,
    evaluator: str | Callable[..., Any] | None = None,
    display: Display | None = None,
) -> FidelityRun:
    """Check ``config``'s ranking against ``factor`` times its budget (see the module).

    Example:
        >>> from nas.study import load_study, run_fidelity
        >>> run = run_fidelity(load_study("studies/quickstart.yaml"), factor=4)  # doctest: +SKIP
        >>> print(run.results[0].verdict.line)                                   # doctest: +SKIP
        ranking stable: rho 0.86 [0.71, 0.95] over 10 architectures, 150 steps vs 600 steps
    """
    from nas.db import Database
    from nas.study import _execution
    from nas.study._runner import run_study

    plan = plan_check(config, factor=factor, architectures=architectures, seeds=seeds)
    if display is not None:
        origin = (
            f"the complete trials of study {config.name!r}"
            if plan.source == "trials"
            else f"a stratified sample of {config.space.path.name} ({_strata(plan.candidates)})"
        )
        display.message(
            f"fidelity check {plan.check}: {len(plan.candidates)} architectures from {origin}, "
            f"seeds {', '.join(map(str, plan.seeds))}, at x1 and x{factor:g} the budget"
        )
    runs = []
    runtime = _execution.start_ray(config.execution)  # once for both companion studies
    try:
        for scale in (1.0, factor):
            study = _retrying_failures(companion(config, plan, scale), display)
            run = run_study(study, evaluator=evaluator, display=display)
            runs.append(run)
            if run.interrupted:
                return FidelityRun(plan, runs, None)
    finally:
        runtime.shutdown()
    with Database(config.storage) as db:
        results = [
            r for r in db.fidelity(config.name, check=plan.check)
            if r.kind == "budget" and math.isclose(r.factor, factor)
        ]  # fmt: skip
    return FidelityRun(plan, runs, results)


def plan_check(
    config: StudyConfig,
    *,
    factor: float = DEFAULT_FACTOR,
    architectures: int | Literal["all"] | None = None,
    seeds: int = DEFAULT_SEEDS,
) -> FidelityPlan:
    """The architectures and seeds a check of ``config`` trains (see the module)."""
    if isinstance(factor, bool) or not 0 < factor < math.inf or factor == 1:
        raise UserError(f"--factor must be a positive number other than 1, got {factor!r}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise UserError(f"--seeds must be at least 1, got {seeds!r}")
    if (
        architectures is not None
        and architectures != "all"
        and (
            isinstance(architectures, bool)
            or not isinstance(architectures, int)
            or architectures < 2
        )
    ):
        raise UserError(f"--architectures must be 'all' or at least 2, got {architectures!r}")
    trials = _trial_candidates(config)
    source: Literal["trials", "sample"] = "trials" if trials else "sample"
    pool = trials or _space_candidates(config)
    strata = len({c.stratum for c in pool})
    if architectures == "all":
        count = len(pool)
    elif source == "sample" and isinstance(architectures, int) and architectures < strata:
        raise UserError(
            f"--architectures {architectures} cannot cover the space's {strata} family/ratio "
            f"strata ({_strata(pool)}): give at least {strata}"
        )
    else:
        count = architectures or max(DEFAULT_ARCHITECTURES, strata if source == "sample" else 0)
    chosen = stratified(pool, lambda c: c.stratum, count, seed=config.sampler_seed)
    return FidelityPlan(
        config.name, float(factor), _seeds(config.seeds, seeds), tuple(chosen), source
    )


def companion(config: StudyConfig, plan: FidelityPlan, factor: float) -> StudyConfig:
    """The study that trains ``plan``'s architectures at ``factor`` times ``config``'s budget:
    baselines only (a random sampler is never asked), K seeds, no multi-fidelity pruning."""
    scaled = config if factor == 1 else config.scaled(factor)
    name = plan.study_name(factor)
    entry = {
        "of": config.name, "check": plan.check, "factor": float(factor), "source": plan.source,
        "architectures": [c.arch.arch_hash for c in plan.candidates],
    }  # fmt: skip
    summary = {
        **scaled.summary,
        "name": name,
        "fidelity": {"levels": [1.0], "eta": Fidelity().eta},
        "seeds": list(plan.seeds),
        "sampler": {"name": "random", "seed": 0},
        CHECK_KEY: entry,
    }
    return replace(
        scaled,
        name=name,
        description=f"nas fidelity check {plan.check} of {config.name} at x{factor:g} its budget",
        fidelity=Fidelity(),
        sampler="random",
        sampler_seed=0,
        sampler_options={},
        n_trials=len(plan.candidates),
        timeout=None,
        baselines=tuple(Baseline(c.label, c.params) for c in plan.candidates),
        seeds=plan.seeds,
        summary=summary,
    )


def _retrying_failures(config: StudyConfig, display: Display | None) -> StudyConfig:
    """A rerun retries the architectures whose trial FAILed in an earlier run of this
    companion (a worker killed for memory, a node lost): each is enqueued again and
    ``n_trials`` grows by the failures, so the study runs until each has one more try.
    Their evaluations that finished are cache hits; diverged (PRUNED) ones stay as they are."""
    import optuna
    from optuna.trial import TrialState

    from nas.study._storage import open_storage

    storage = open_storage(
        config.storage,
        heartbeat_interval=config.execution.heartbeat_interval,
        max_retry=config.execution.max_retries,
    )
    try:
        if config.name not in {s.study_name for s in storage.get_all_studies()}:
            return config
        study = optuna.load_study(study_name=config.name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        failed = [t for t in trials if t.state == TrialState.FAIL and "fail_reason" in t.user_attrs]
        done = {
            t.user_attrs.get("arch_hash")
            for t in trials
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        }
        waiting = any(t.state in (TrialState.WAITING, TrialState.RUNNING) for t in trials)
        retry = {t.user_attrs.get("arch_hash"): t for t in failed} if not waiting else {}
        retry = {h: t for h, t in retry.items() if h not in done}
        for trial in retry.values():
            study.enqueue_trial(
                trial.params, user_attrs={"baseline": trial.user_attrs.get("baseline", "")}
            )
        if retry and display is not None:
            display.message(
                f"{config.name}: retrying {len(retry)} architectures that failed before"
            )
        return replace(config, n_trials=len(config.baselines) + len(failed))
    finally:
        storage.engine.dispose()


def stratified(
    items: Sequence[T], stratum: Callable[[T], Hashable], n: int, seed: int = 0
) -> list[T]:
    """``n`` of ``items`` spread over their strata: each stratum's items in an order drawn
    with ``seed``, then one per stratum in turn (strata in order of first appearance), so
    every stratum is represented before any gets a second. All of them when ``n`` is larger.

    >>> stratified(["a1", "a2", "a3", "b1", "c1", "c2"], lambda s: s[0], 4, seed=0)
    ['a1', 'b1', 'c2', 'a3']
    """
    rng = random.Random(seed)
    groups: dict[Hashable, list[T]] = {}
    for item in items:
        groups.setdefault(stratum(item), []).append(item)
    for group in groups.values():
        rng.shuffle(group)
    spread = itertools.chain.from_iterable(itertools.zip_longest(*groups.values()))
    return [item for item in spread if item is not None][:n]


# -- where the architectures come from --------------------------------------------------------
def _trial_candidates(config: StudyConfig) -> list[Candidate]:
    """One candidate per distinct architecture of the study's complete trials, if any."""
    import optuna
    from optuna.trial import TrialState

    from nas.study._storage import open_storage

    storage = open_storage(
        config.storage,
        heartbeat_interval=config.execution.heartbeat_interval,
        max_retry=config.execution.max_retries,
    )
    try:
        if config.name not in {s.study_name for s in storage.get_all_studies()}:
            return []
        study = optuna.load_study(study_name=config.name, storage=storage)
        found: dict[str, Candidate] = {}
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            arch = _arch(config, trial.params)
            if arch is not None and arch.arch_hash not in found:
                found[arch.arch_hash] = Candidate(dict(trial.params), arch, f"trial {trial.number}")
        return list(found.values())
    finally:
        storage.engine.dispose()


def _space_candidates(config: StudyConfig) -> list[Candidate]:
    """Every feasible architecture of a finite space (its grid, as the grid sampler has it),
    else distinct ones of :data:`_DRAWS` random draws (Optuna's random sampler)."""
    space = config.space
    found: dict[str, Candidate] = {}
    if space.is_finite and space.discrete_size <= _GRID_LIMIT:
        grid = space.grid_search_space()
        draws: Any = (
            dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())
        )
    else:
        draws = _random_params(config)
    for params in draws:
        arch = _arch(config, params)
        if arch is not None and arch.arch_hash not in found:
            given = ", ".join(f"{k}={v}" for k, v in params.items() if not k.startswith("layout."))
            found[arch.arch_hash] = Candidate(params, arch, f"{arch.layout} ({given})")
    if not found:
        raise UserError(f"{space.path}: no feasible architecture to check (see `nas space grid`)")
    return list(found.values())


def _random_params(config: StudyConfig) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=config.sampler_seed))
    for _ in range(_DRAWS):
        trial = study.ask()
        try:
            config.space.suggest(trial)
        except optuna.TrialPruned:  # InfeasibleArchitecture
            continue
        finally:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        yield dict(trial.params)


def _arch(config: StudyConfig, params: dict[str, Any]) -> ArchSpec | None:
    """The feasible architecture ``params`` make in the study's space, else None."""
    import optuna

    try:
        arch = config.space.suggest(optuna.trial.FixedTrial(params))
    except (optuna.TrialPruned, ValueError):  # infeasible, or params of another space
        return None
    if config.space.violations(arch) or any(c.violation(arch) for c in config.constraints):
        return None
    return arch


def _seeds(own: Sequence[int], count: int) -> tuple[int, ...]:
    """The study's seeds first, then the next integers: ``count`` in all.

    >>> _seeds([0], 2), _seeds([3, 5], 3), _seeds([0, 1, 2], 1)
    ((0, 1), (3, 5, 6), (0,))
    """
    seeds = list(own[:count])
    while len(seeds) < count:
        seeds.append(max(seeds, default=-1) + 1)
    return tuple(seeds)


def _strata(candidates: Sequence[Candidate]) -> str:
    by_share = {c.arch.ratio: c.arch.attention_fraction for c in candidates}
    ratios = sorted(by_share, key=by_share.__getitem__)
    return f"ratios {', '.join(ratios)}"
