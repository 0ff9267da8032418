"""Proxy validity read from the database: does a study's ranking hold at a higher fidelity?

Two sources, both computed from stored evaluations each time they are read (nothing is
stored as a result):

``budget``
    ``nas fidelity STUDY.yaml`` runs two companion studies of the same architectures, one
    at the study's budget and one at ``factor`` times it, each with the same K seeds. Their
    stored settings (``nas_config``) carry a ``fidelity_check`` entry naming the study, the
    check id (a hash of the architectures and seeds) and the factor; that is how they are
    found again. Companions are ordinary studies: ``nas db trials`` reads them too.
``rungs``
    A multi-fidelity study already measured every trial that reached level k + 1 at level
    k as well (its evaluations' learning curves hold the capability at every level): the
    same comparison between consecutive levels costs no training.

For each pair of fidelities and each target (``capability``, then each task):
Spearman rho and Kendall tau with bootstrap intervals, seed-to-seed reliability and the
mean standard error at each fidelity; then the Pareto-front overlap and a verdict (see
:mod:`nas.db._stats`). Architectures are compared only where every task and seed was
measured at both fidelities.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select

from nas.db import _optuna_tables as ot
from nas.db import schema
from nas.db._nas_frames import task_labels
from nas.db._pareto import non_dominated
from nas.db._stats import (
    FrontOverlap,
    Verdict,
    front_overlap,
    rank_agreement,
    seed_reliability,
    verdict,
    weighted_capability,
)
from nas.db._trial_query import ARCH_TABLE_COLUMNS, FIGURE_COLUMNS, fetch_all
from nas.errors import UserError
from nas.units import short_figure

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

    from nas.db._database import Database

CHECK_KEY = "fidelity_check"
"""Key of a companion study's ``nas_config`` saying which study and check it belongs to."""
_AMOUNTS = ("steps", "tokens", "flops")
_SHOWN = ("arch_hash", "layout", "family", "ratio", "d_state")
_HASHES_PER_QUERY = 900


def capability_at(curve: Sequence[Mapping[str, Any]], steps: int, fraction: float) -> float | None:
    """The capability a learning curve holds after ``fraction`` of a run's ``steps`` (None
    when the run did not get there): the entry at step ``max(1, round(fraction * steps))``,
    where the study driver measures its fidelity levels.

    >>> capability_at([{"step": 38, "capability": 0.2}, {"step": 150, "capability": 0.5}], 150, 0.25)
    0.2
    >>> capability_at([{"step": 38, "capability": 0.2}], 150, 0.5) is None
    True
    """
    step = max(1, round(fraction * steps))
    for entry in curve:
        if entry["step"] == step:
            return float(entry["capability"])
    return None


@dataclass
class FidelityResult:
    """One comparison of a study's ranking between a lower and a higher fidelity."""

    study: str
    kind: Literal["budget", "rungs"]
    low: str  # what the lower fidelity is, e.g. "150 steps" or "level 0 (0.33 x 150 steps)"
    high: str
    factor: float  # higher / lower training amount
    seeds: tuple[int, ...]
    rows: pd.DataFrame  # one per target: capability, then each task
    architectures: pd.DataFrame  # one per architecture compared
    front: FrontOverlap
    verdict: Verdict  # of the capability row
    check: str | None = None  # budget checks: the id shared by its companion studies
    studies: tuple[str, str] | None = None  # budget checks: the companion studies
    missing: list[str] = field(default_factory=list)  # architectures not measured at both

    @property
    def title(self) -> str:
        what = f"check {self.check}" if self.check else "multi-fidelity levels"
        return f"{self.study}: {self.low} vs {self.high} ({what})"

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-able values (``nas db fidelity --format json``)."""
        return {
            "study": self.study,
            "kind": self.kind,
            "check": self.check,
            "studies": list(self.studies) if self.studies else None,
            "low": self.low,
            "high": self.high,
            "factor": self.factor,
            "seeds": list(self.seeds),
            "verdict": {"level": self.verdict.level, "line": self.verdict.line},
            "front": {
                "kept": list(self.front.kept),
                "left": list(self.front.left),
                "joined": list(self.front.joined),
                "jaccard": _json_float(self.front.jaccard),
            },
            "targets": _records(self.rows),
            "architectures": _records(self.architectures),
            "missing": self.missing,
        }


def read(db: Database, study: str, check: str | None = None) -> list[FidelityResult]:
    """The budget checks of ``study`` (the latest check's, or ``check``'s) and, for a
    multi-fidelity study, one comparison per pair of consecutive levels."""
    with db._connect() as conn:
        companions = _companions(conn, study)
        names = set(conn.execute(select(ot.studies.c.study_name)).scalars())
    results: list[FidelityResult] = []
    if companions:
        checks = [c for c in companions if c["check"] == (check or companions[-1]["check"])]
        if check and not checks:
            known = ", ".join(sorted({c["check"] for c in companions}))
            raise UserError(
                f"study {study!r} has no fidelity check {check!r} (its checks: {known})"
            )
        base = next((c for c in checks if c["factor"] == 1), None)
        for scaled in (c for c in checks if c["factor"] != 1):
            if base is not None:
                results.append(_budget_check(db, study, base, scaled))
    elif check:
        raise UserError(f"study {study!r} has no fidelity check: run `nas fidelity` on its file")
    if study in names:
        results.extend(_rung_checks(db, study))
    if not results:
        if study not in names:
            db.objectives(study)  # the unknown-study error, with the names there are
        raise UserError(
            f"no fidelity figures for study {study!r}: run `nas fidelity STUDY.yaml` (it trains "
            "the study's architectures at a longer budget), or use budget.fidelity levels"
        )
    return results


# -- budget checks ------------------------------------------------------------------------------
def _companions(conn: Connection, study: str) -> list[dict[str, Any]]:
    """The companion studies of ``study``, oldest first: name, summary, check and factor."""
    s, a = ot.studies, ot.study_user_attributes
    rows = conn.execute(
        select(s.c.study_id, s.c.study_name, a.c.value_json)
        .join(a, a.c.study_id == s.c.study_id)
        .where(a.c.key == schema.CONFIG_ATTR, a.c.value_json.contains(f'"{CHECK_KEY}"'))
        .order_by(s.c.study_id)
    ).all()
    found = []
    for _, name, text in rows:
        summary = json.loads(text)
        entry = summary.get(CHECK_KEY) or {}
        if entry.get("of") == study:
            found.append(
                {"name": name, "summary": summary, "check": entry["check"],
                 "factor": float(entry["factor"])}
            )  # fmt: skip
    return found


def _budget_check(
    db: Database, study: str, base: dict[str, Any], scaled: dict[str, Any]
) -> FidelityResult:
    summary = base["summary"]
    seeds = tuple(summary["seeds"])
    low_trials, high_trials = (_complete(db, c["name"], c["summary"]) for c in (base, scaled))
    hashes = sorted(set(low_trials.index) | set(high_trials.index))
    long = {
        key: _measured(db, trials, summary["tasks"], seeds, 1.0)
        for key, trials in (("low", low_trials), ("high", high_trials))
    }
    objectives = dict(summary["objectives"])
    fronts = {
        key: _front(trials, objectives)
        for key, trials in (("low", low_trials), ("high", high_trials))
    }
    return _compare(
        study, "budget", _budget_label(summary["budget"]),
        _budget_label(scaled["summary"]["budget"]), scaled["factor"], seeds,
        summary["tasks"], long, fronts, low_trials.combine_first(high_trials), hashes,
        check=base["check"], studies=(base["name"], scaled["name"]),
    )  # fmt: skip


def _complete(db: Database, name: str, summary: Mapping[str, Any]) -> pd.DataFrame:
    """A study's complete trials, one per architecture: identity, objectives, budget hash."""
    objectives = list(summary["objectives"])
    columns = list(dict.fromkeys([*_SHOWN, *objectives, "budget_hash"]))
    frame = db.trials(name, columns=columns, where="state == 'COMPLETE'")
    return frame.drop_duplicates("arch_hash").set_index("arch_hash")


def _budget_label(budget: Mapping[str, Any], fraction: float = 1.0) -> str:
    """``"150 steps"``, ``"1.2M tokens"``: the training amount of ``fraction`` of a budget
    (whole steps as the driver counts them at a fidelity level)."""
    kind = next(name for name in _AMOUNTS if budget.get(name) is not None)
    amount = float(budget[kind]) * fraction
    if kind == "steps":
        amount = max(1, round(amount))
    return f"{short_figure(amount)} {kind}"


# -- multi-fidelity levels ----------------------------------------------------------------------
def _rung_checks(db: Database, study: str) -> list[FidelityResult]:
    with db._connect() as conn:
        study_id = db._study_id(conn, study)
        summary = _study_summary(conn, study_id)
    levels = (summary or {}).get("fidelity", {}).get("levels", [1.0])
    needed = ("budget", "tasks", "seeds", "objectives")
    if summary is None or len(levels) < 2 or any(key not in summary for key in needed):
        return []  # not multi-fidelity, or not written by the study driver
    seeds = tuple(summary["seeds"])
    objectives = dict(summary["objectives"])
    ranked = {  # measured objectives are only known at the end: levels rank without them
        name: goal for name, goal in objectives.items()
        if name == "capability" or name in FIGURE_COLUMNS or name in ARCH_TABLE_COLUMNS
    }  # fmt: skip
    columns = list(dict.fromkeys([*_SHOWN, *ranked, "budget_hash"]))
    trials = db.trials(study, columns=columns, where="arch_hash is not null")
    trials = trials[trials["budget_hash"].notna()].drop_duplicates("arch_hash")
    trials = trials.set_index("arch_hash")
    rows = _rows(db, trials, summary["tasks"], seeds)
    results = []
    for k in range(len(levels) - 1):
        long = {"low": _at(rows, levels[k]), "high": _at(rows, levels[k + 1])}
        measured = [_complete_archs(frame, summary["tasks"], seeds) for frame in long.values()]
        hashes = sorted(set(measured[0]) & set(measured[1]))
        fronts = {}
        for key in long:
            values = trials.loc[hashes].copy()
            capability = _capability(long[key], summary["tasks"], seeds).mean(axis=1)
            values["capability"] = capability.reindex(values.index)
            fronts[key] = _front(values, ranked)

        def name(level: int) -> str:
            return f"level {level} ({_budget_label(summary['budget'], levels[level])})"

        results.append(_compare(
            study, "rungs", name(k), name(k + 1), levels[k + 1] / levels[k], seeds,
            summary["tasks"], long, fronts, trials, hashes,
        ))  # fmt: skip
    return results


def _study_summary(conn: Connection, study_id: int) -> dict[str, Any] | None:
    a = ot.study_user_attributes
    text = conn.execute(
        select(a.c.value_json).where(a.c.study_id == study_id, a.c.key == schema.CONFIG_ATTR)
    ).scalar()
    return None if text is None else json.loads(text)


# -- evaluations --------------------------------------------------------------------------------
def _measured(
    db: Database,
    trials: pd.DataFrame,
    tasks: Mapping[str, float],
    seeds: Sequence[int],
    fraction: float,
) -> pd.DataFrame:
    return _at(_rows(db, trials, tasks, seeds), fraction)


def _rows(
    db: Database, trials: pd.DataFrame, tasks: Mapping[str, float], seeds: Sequence[int]
) -> pd.DataFrame:
    """The evaluations behind ``trials`` by their cache key (architecture, task, the
    trial's budget hash, seed): per key the newest ``ok`` run, else the ``stopped`` one
    that got furthest, as the study driver picks them."""
    import pandas as pd

    e = schema.evaluations
    columns = ("evaluation_id", "arch_hash", "task", "budget_hash", "seed", "status",
               "capability", "metrics_json", "curve_json")  # fmt: skip
    found = []
    budget_hashes = sorted(set(trials["budget_hash"].dropna()))
    hashes = list(trials.index)
    with db._connect() as conn:
        for start in range(0, len(hashes), _HASHES_PER_QUERY):
            query = select(*(e.c[n] for n in columns)).where(
                e.c.arch_hash.in_(hashes[start : start + _HASHES_PER_QUERY]),
                e.c.task.in_(list(tasks)),
                e.c.budget_hash.in_(budget_hashes),
                e.c.seed.in_(list(seeds)),
                e.c.status.in_(("ok", "stopped")),
            )
            found.extend(fetch_all(conn, query))
    frame = pd.DataFrame.from_records(found, columns=list(columns))
    own = trials["budget_hash"].reindex(frame["arch_hash"]).to_numpy()
    frame = frame[frame["budget_hash"].to_numpy() == own]  # each trial's own budget
    frame["ok"] = frame["status"] == "ok"
    frame["curve"] = frame["curve_json"].map(json.loads)
    frame["length"] = frame["curve"].map(len)
    frame["steps"] = frame["metrics_json"].map(lambda text: int(json.loads(text).get("steps", 0)))
    frame = frame.sort_values(["ok", "length", "evaluation_id"], ascending=False, kind="stable")
    return frame.drop_duplicates(["arch_hash", "task", "seed"])


def _at(rows: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """(arch_hash, task, seed, capability) at ``fraction`` of the budget: a finished run's
    capability at 1.0, its learning curve's value below."""
    out = rows[["arch_hash", "task", "seed"]].copy()
    if fraction >= 1.0:
        out["capability"] = rows["capability"].where(rows["ok"]).astype(float)
    else:
        out["capability"] = [
            capability_at(curve, steps, fraction)
            for curve, steps in zip(rows["curve"], rows["steps"], strict=True)
        ]
        out["capability"] = out["capability"].astype(float)
    return out.dropna(subset=["capability"])


def _complete_archs(
    long: pd.DataFrame, tasks: Mapping[str, float], seeds: Sequence[int]
) -> list[str]:
    counts = long.groupby("arch_hash").size()
    return list(counts[counts == len(tasks) * len(seeds)].index)


def _capability(
    long: pd.DataFrame, tasks: Mapping[str, float], seeds: Sequence[int]
) -> pd.DataFrame:
    """Architecture x seed: the study's capability (the tasks' weighted mean) per seed."""
    import pandas as pd

    if long.empty:
        return pd.DataFrame(columns=list(seeds), dtype=float)
    table = long.pivot_table(index=["arch_hash", "seed"], columns="task", values="capability")
    values = [
        weighted_capability({t: row.get(t, math.nan) for t in tasks}, tasks)
        for _, row in table.iterrows()
    ]
    per_seed = table.assign(capability=values)["capability"].unstack("seed")
    return per_seed.reindex(columns=list(seeds))


def _task_table(long: pd.DataFrame, task: str, seeds: Sequence[int]) -> pd.DataFrame:
    import pandas as pd

    rows = long[long["task"] == task]
    if rows.empty:
        return pd.DataFrame(columns=list(seeds), dtype=float)
    return rows.pivot_table(index="arch_hash", columns="seed", values="capability").reindex(
        columns=list(seeds)
    )


# -- the comparison -----------------------------------------------------------------------------
def _front(values: pd.DataFrame, objectives: Mapping[str, str]) -> set[str]:
    """Architectures on the Pareto front of ``values`` (indexed by hash) over ``objectives``."""
    points = values[list(objectives)].to_numpy(dtype=float, copy=True)
    for index, goal in enumerate(objectives.values()):
        if goal == "maximize":
            points[:, index] = -points[:, index]
    return set(values.index[non_dominated(points)]) if len(values) else set()


def _compare(
    study: str,
    kind: Literal["budget", "rungs"],
    low: str,
    high: str,
    factor: float,
    seeds: tuple[int, ...],
    tasks: Mapping[str, float],
    long: dict[str, pd.DataFrame],
    fronts: dict[str, set[str]],
    identity: pd.DataFrame,
    hashes: Sequence[str],
    **extra: Any,
) -> FidelityResult:
    import pandas as pd

    complete = [set(_complete_archs(long[k], tasks, seeds)) for k in ("low", "high")]
    both = [h for h in hashes if h in complete[0] and h in complete[1]]
    missing = [h for h in hashes if h not in both]
    labels = task_labels(list(tasks))
    tables = {
        "capability": {k: _capability(long[k], tasks, seeds).reindex(both) for k in long},
        **{
            labels[t]: {k: _task_table(long[k], t, seeds).reindex(both) for k in long}
            for t in tasks
        },
    }
    overlap = front_overlap(fronts["low"] & set(both), fronts["high"] & set(both))
    records = []
    for target, pair in tables.items():
        means = {k: pair[k].mean(axis=1) for k in pair}
        agreement = rank_agreement(means["low"].to_numpy(), means["high"].to_numpy())
        reliability = {k: seed_reliability(pair[k].to_numpy()) for k in pair}
        judged = verdict(
            agreement, low=low, high=high, seeds_low=reliability["low"],
            seeds_high=reliability["high"], front=overlap if target == "capability" else None,
        )  # fmt: skip
        records.append({
            "target": target, "n": agreement.n,
            "spearman": agreement.spearman.value, "spearman_low": agreement.spearman.low,
            "spearman_high": agreement.spearman.high, "kendall": agreement.kendall.value,
            "kendall_low": agreement.kendall.low, "kendall_high": agreement.kendall.high,
            "seeds_low": reliability["low"], "seeds_high": reliability["high"],
            "sem_low": float(pair["low"].sem(axis=1).mean()) if len(seeds) > 1 else math.nan,
            "sem_high": float(pair["high"].sem(axis=1).mean()) if len(seeds) > 1 else math.nan,
            "verdict": judged.level, "line": judged.line,
        })  # fmt: skip
    rows = pd.DataFrame.from_records(records)
    capability = tables["capability"]
    archs = identity.reindex(both)[[c for c in _SHOWN[1:] if c in identity]].copy()
    for key in ("low", "high"):
        archs[f"capability_{key}"] = capability[key].mean(axis=1)
        archs[f"sem_{key}"] = capability[key].sem(axis=1) if len(seeds) > 1 else math.nan
    for key in ("low", "high"):
        archs[f"rank_{key}"] = archs[f"capability_{key}"].rank(ascending=False, method="min")
        archs[f"front_{key}"] = [h in fronts[key] for h in archs.index]
    archs = archs.sort_values("capability_high", ascending=False, kind="stable").reset_index()
    first = records[0]
    return FidelityResult(
        study=study, kind=kind, low=low, high=high, factor=factor, seeds=seeds, rows=rows,
        architectures=archs, front=overlap, verdict=Verdict(first["verdict"], first["line"]),
        missing=missing, **extra,
    )  # fmt: skip


def _json_float(value: Any) -> Any:
    """NaN and pandas' missing values as JSON's null; floats to 12 digits."""
    import pandas as pd

    if value is None or (not isinstance(value, (list, tuple, str)) and pd.isna(value)):
        return None
    return round(value, 12) if isinstance(value, float) else value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for record in frame.to_dict("records"):
        out.append(
            {k: _json_float(v.item() if hasattr(v, "item") else v) for k, v in record.items()}
        )
    return out
