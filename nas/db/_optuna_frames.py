"""Study-level reads of Optuna's tables: summaries, objectives and the names in use."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from nas.db import _optuna_tables as ot
from nas.db._trial_query import sql_datetime

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection


def distinct_names(conn: Connection, study_id: int) -> tuple[list[str], list[str]]:
    """(parameter names, user attribute keys) used by the study's trials."""
    t, p, a = ot.trials, ot.trial_params, ot.trial_user_attributes
    first, last, count = conn.execute(
        select(func.min(t.c.trial_id), func.max(t.c.trial_id), func.count()).where(
            t.c.study_id == study_id
        )
    ).one()
    if count and last - first + 1 == count:
        # The study owns every id in its range (the usual case): one index range scan
        # instead of a lookup per trial.
        def in_study(column: Any) -> Any:
            return column.between(first, last)
    else:
        ids = select(t.c.trial_id).where(t.c.study_id == study_id).scalar_subquery()

        def in_study(column: Any) -> Any:
            return column.in_(ids)

    param_names = conn.execute(
        select(p.c.param_name).where(in_study(p.c.trial_id)).distinct()
    ).scalars()
    attr_keys = conn.execute(select(a.c.key).where(in_study(a.c.trial_id)).distinct()).scalars()
    return sorted(param_names), sorted(attr_keys)


def study_summaries(conn: Connection) -> pd.DataFrame:
    """One row per study: name, trial counts per state, directions, metric names, times."""
    import pandas as pd

    s, t, d = ot.studies, ot.trials, ot.study_directions
    counts = pd.DataFrame(
        conn.execute(
            select(
                t.c.study_id,
                t.c.state,
                func.count(),
                sql_datetime(conn, func.min(t.c.datetime_start)),
                sql_datetime(conn, func.max(t.c.datetime_complete)),
            ).group_by(t.c.study_id, t.c.state)
        ).all(),
        columns=["study_id", "state", "n", "first_start", "last_complete"],
    )
    names = pd.DataFrame(
        conn.execute(select(s.c.study_id, s.c.study_name)).all(), columns=["study_id", "study"]
    ).set_index("study_id")
    directions = conn.execute(
        select(d.c.study_id, d.c.objective, d.c.direction).order_by(d.c.study_id, d.c.objective)
    ).all()
    metric_names = metric_names_by_study(conn)
    frame = names.copy()
    per_state = counts.pivot_table(index="study_id", columns="state", values="n", aggfunc="sum")
    frame["n_trials"] = per_state.sum(axis=1).reindex(frame.index).fillna(0).astype(int)
    for state in ("COMPLETE", "RUNNING", "PRUNED", "FAIL", "WAITING"):
        counts_of_state = per_state.get(state, pd.Series(0, index=per_state.index))
        frame[state.lower()] = counts_of_state.reindex(frame.index).fillna(0).astype(int)
    per_study: dict[int, list[str]] = {}
    for study_id, _objective, direction in directions:
        per_study.setdefault(study_id, []).append(direction.lower())
    frame["objectives"] = [
        ", ".join(
            f"{direction} {name}"
            for name, direction in objectives(per_study.get(i, []), metric_names.get(i)).items()
        )
        for i in frame.index
    ]
    for column, how in (("first_start", "min"), ("last_complete", "max")):
        times = pd.to_datetime(counts[column], format="ISO8601")
        frame[column] = times.groupby(counts["study_id"]).agg(how).reindex(frame.index)
    return frame.reset_index(drop=True).sort_values("study", kind="stable", ignore_index=True)


def metric_names_by_study(conn: Connection, study_id: int | None = None) -> dict[int, list[str]]:
    """Optuna's metric names (``study.set_metric_names``) of each study that set them."""
    a = ot.study_system_attributes
    query = select(a.c.study_id, a.c.value_json).where(a.c.key == ot.METRIC_NAMES_KEY)
    if study_id is not None:
        query = query.where(a.c.study_id == study_id)
    return {sid: json.loads(text) for sid, text in conn.execute(query).all()}


def objectives(directions: Sequence[str], metric_names: Sequence[str] | None) -> dict[str, str]:
    """Objective name -> direction; unnamed objectives are called as Optuna's
    ``trials_dataframe`` calls them: ``value`` alone, else ``values_0``, ``values_1``, ..."""
    if metric_names and len(metric_names) == len(directions):
        names = list(metric_names)
    elif len(directions) == 1:
        names = ["value"]
    else:
        names = [f"values_{i}" for i in range(len(directions))]
    return dict(zip(names, directions, strict=True))


def directions(conn: Connection, study_id: int) -> list[str]:
    """``"maximize"``/``"minimize"`` per objective, in objective order."""
    d = ot.study_directions
    rows = conn.execute(
        select(d.c.direction).where(d.c.study_id == study_id).order_by(d.c.objective)
    ).scalars()
    return [direction.lower() for direction in rows]


def study_user_attr(conn: Connection, study_id: int, key: str) -> object:
    """One study user attribute, JSON-decoded (None when absent)."""
    a = ot.study_user_attributes
    text = conn.execute(
        select(a.c.value_json).where(a.c.study_id == study_id, a.c.key == key)
    ).scalar()
    return None if text is None else json.loads(text)


def param_distributions(conn: Connection, study_id: int) -> dict[str, str]:
    """Parameter name -> distribution JSON of the study's latest trial that has it."""
    p, t = ot.trial_params, ot.trials
    latest = (
        select(p.c.param_name, func.max(p.c.param_id).label("param_id"))
        .join(t, t.c.trial_id == p.c.trial_id)
        .where(t.c.study_id == study_id)
        .group_by(p.c.param_name)
        .subquery()
    )
    rows = conn.execute(
        select(latest.c.param_name, p.c.distribution_json).join(
            p, p.c.param_id == latest.c.param_id
        )
    ).all()
    return dict(sorted(rows))
