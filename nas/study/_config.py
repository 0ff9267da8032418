"""The study file's validated form: :class:`StudyConfig` and its parts, and :func:`load_study`.

The file's keys and their checks live in :mod:`nas.study._reader`; every problem in a file
is reported at once as ``file:line:col: key: message``. See :mod:`nas.study` for the format.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from nas.errors import UserError
from nas.space import Constraint, SearchSpace, SpaceError, read_yaml

Direction = Literal["maximize", "minimize"]

# objective name -> (kind, default direction). "compute" figures come from nas.compute at
# the study's (seq_len, context); "measured" ones from the training runs.
OBJECTIVES: dict[str, tuple[str, Direction]] = {
    "capability": ("capability", "maximize"),
    "params": ("compute", "minimize"),
    "non_embedding_params": ("compute", "minimize"),
    "train_flops_per_token": ("compute", "minimize"),
    "prefill_flops": ("compute", "minimize"),
    "decode_flops_per_token": ("compute", "minimize"),
    "state_bytes": ("compute", "minimize"),
    "tokens_per_s": ("measured", "maximize"),
    "peak_memory_bytes": ("measured", "minimize"),
    "wall_s": ("measured", "minimize"),
}
SAMPLERS = ("grid", "random", "tpe", "nsgaii", "nsgaiii", "gp")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")
_UNIT_SECONDS = {None: 1, "s": 1, "m": 60, "h": 3600}


class StudyError(SpaceError):
    """Problems in a study file, all at once, each ``file:line:col: key: message``."""


@dataclass(frozen=True)
class Objective:
    """One objective: a name from :data:`OBJECTIVES` and its direction."""

    name: str
    direction: Direction

    @property
    def kind(self) -> str:
        """``capability``, ``compute`` (known before training) or ``measured``."""
        return OBJECTIVES[self.name][0]


@dataclass(frozen=True)
class Fidelity:
    """Multi-fidelity levels as fractions of the budget (ascending, the last 1.0) and ``eta``:
    about 1 in ``eta`` of the trials reaching a level go on to the next."""

    levels: tuple[float, ...] = (1.0,)
    eta: float = 3.0

    @property
    def enabled(self) -> bool:
        return len(self.levels) > 1


@dataclass(frozen=True)
class Baseline:
    """An architecture enqueued before sampling: ``params`` for Optuna's ``enqueue_trial``."""

    label: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Execution:
    """Where and how evaluations run (see the ``execution`` keys in :mod:`nas.study`)."""

    workers: int = 1
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    ray_address: str | None = None
    device: str = "auto"
    backend: str = "auto"
    max_retries: int = 2
    heartbeat_interval: int = 30
    evaluator: str = "nas.proxy:evaluate"

    @property
    def resolved_device(self) -> str:
        """``auto`` is ``cuda`` when trials get GPUs, else ``cpu``."""
        if self.device != "auto":
            return self.device
        return "cuda" if self.gpus_per_trial > 0 else "cpu"


@dataclass(frozen=True)
class StudyConfig:
    """A validated study file. Build it with :func:`load_study`; flags apply through
    :meth:`with_overrides`."""

    name: str
    description: str
    path: Path
    space: SearchSpace
    tasks: dict[str, float]  # canonical task spec -> weight
    budget: Any  # nas.proxy.Budget (the full fidelity; eval_fractions hold the levels)
    fidelity: Fidelity
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    seq_len: int
    context: int
    sampler: str
    sampler_seed: int
    sampler_options: dict[str, Any]
    n_trials: int | None
    timeout: float | None
    baselines: tuple[Baseline, ...]
    seeds: tuple[int, ...]
    execution: Execution
    storage: str
    cache: bool = True
    summary: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def directions(self) -> list[Direction]:
        return [o.direction for o in self.objectives]

    @property
    def objective_names(self) -> list[str]:
        return [o.name for o in self.objectives]

    def fingerprint(self) -> str:
        """Hash of what decides a trial's values: space, tasks, budget, fidelity, objectives,
        seeds and the compute settings. A study can only be resumed with the same one."""
        keys = (
            "space",
            "tasks",
            "budget",
            "fidelity",
            "objectives",
            "constraints",
            "seeds",
            "compute",
        )
        text = json.dumps({k: self.summary[k] for k in keys}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def scaled(self, factor: float) -> StudyConfig:
        """The study with every training budget amount times ``factor`` (through
        :meth:`nas.proxy.Budget.scaled`): what ``nas fidelity`` trains at ``--factor``.
        The name and the rest stay; the stored summary and fingerprint follow the budget.

        Example:
            >>> config = load_study("studies/quickstart.yaml")
            >>> config.scaled(4).budget.steps, config.scaled(4).summary["budget"]["steps"]
            (600, 600)
        """
        budget = self.budget.scaled(factor)
        return replace(self, budget=budget, summary={**self.summary, "budget": budget.to_dict()})

    def with_overrides(
        self,
        *,
        storage: str | None = None,
        ray_address: str | None = None,
        workers: int | None = None,
        n_trials: int | None = None,
        timeout: float | None = None,
        cache: bool | None = None,
    ) -> StudyConfig:
        """The config with command-line flags applied (None leaves a setting as it is)."""
        execution = self.execution
        if ray_address is not None:
            execution = replace(execution, ray_address=ray_address)
        if workers is not None:
            if workers < 1:
                raise UserError(f"--workers must be at least 1, got {workers}")
            execution = replace(execution, workers=workers)
        if n_trials is not None and n_trials < 1:
            raise UserError(f"--n-trials must be at least 1, got {n_trials}")
        if timeout is not None and timeout <= 0:
            raise UserError(f"--timeout must be positive, got {timeout}")
        return replace(
            self,
            storage=self.storage if storage is None else storage,
            execution=execution,
            n_trials=self.n_trials if n_trials is None else n_trials,
            timeout=self.timeout if timeout is None else timeout,
            cache=self.cache if cache is None else cache,
        )


def load_study(path: str | Path) -> StudyConfig:
    """Read and validate a study file; every problem raises at once as a :class:`StudyError`.

    Example:
        >>> config = load_study("studies/quickstart.yaml")
        >>> config.name, [o.name for o in config.objectives]
        ('quickstart', ['capability', 'train_flops_per_token', 'state_bytes'])
    """
    path = Path(path)
    try:
        root = read_yaml(path)
    except SpaceError as error:
        raise StudyError(error.problems) from None
    from nas.study._reader import read_study  # the reader builds these types

    return read_study(root, path)


def parse_duration(text: str | float | int) -> float:
    """Seconds from ``90``, ``"90s"``, ``"5m"`` or ``"2h"``.

    >>> parse_duration("5m"), parse_duration(30)
    (300.0, 30.0)
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise ValueError(f"{text!r} is not a duration: give seconds, or 90s, 5m, 2h")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not 0 < seconds < math.inf:
        raise ValueError(f"a duration must be positive, got {text!r}")
    return seconds
