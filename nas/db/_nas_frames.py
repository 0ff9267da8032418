"""The toolkit's ``evaluations`` table as per-trial DataFrames.

Trials reach their evaluations through the ``evaluation_ids`` user attribute written by
the study driver (see :mod:`nas.db.schema`); frames are indexed by ``trial_id`` so they
join onto the trial columns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from nas.db import _optuna_tables as ot
from nas.db import schema
from nas.db._trial_query import MAX_IN_LIST, fetch_all

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

# Per-trial summaries of its evaluations (besides cap.<task> and gap.<task>).
EVAL_COLUMNS = (
    "n_evaluations", "n_seeds", "eval_wall_s", "tokens_per_s", "peak_memory_bytes", "device",
    "backend",
)  # fmt: skip
CAPABILITY_PREFIX, GAP_PREFIX = "cap.", "gap."

_FILLER = re.compile(r"(?:^|[:,])filler=(\d+)")


def task_labels(tasks: Sequence[str]) -> dict[str, str]:
    """Short column labels for task specs: the task name, plus the parameters that tell
    apart tasks of the same name (``mqar`` and ``mqar:filler=2``).

    >>> task_labels(["mqar:filler=0,seq_len=64", "mqar:filler=2,seq_len=64", "byte_lm:seq_len=128"])
    {'mqar:filler=0,seq_len=64': 'mqar:filler=0', 'mqar:filler=2,seq_len=64': 'mqar:filler=2', 'byte_lm:seq_len=128': 'byte_lm'}
    """
    parsed = {spec: _split_spec(spec) for spec in tasks}
    labels = {}
    for spec, (name, params) in parsed.items():
        siblings = [p for n, p in parsed.values() if n == name]
        differing = [k for k in params if any(p.get(k) != params[k] for p in siblings)]
        labels[spec] = name + (
            ":" + ",".join(f"{k}={params[k]}" for k in differing) if differing else ""
        )
    return labels


def _split_spec(spec: str) -> tuple[str, dict[str, str]]:
    name, _, rest = spec.partition(":")
    params = dict(item.split("=", 1) for item in rest.split(",") if "=" in item)
    return name, params


def has_filler(task: str) -> bool:
    """Whether a task spec inserts filler tokens (its results carry a filler gap)."""
    match = _FILLER.search(task)
    return bool(match and int(match.group(1)) > 0)


def json_number(conn: Connection, column: Any, key: str) -> Any:
    """SQL for the number under ``key`` in a JSON text column (NULL when absent).

    Written with plain functions and operators (not SQLAlchemy's JSON type) so that the
    statement runs as compiled, without bind processors (see ``fetch_all``).
    """
    from sqlalchemy import Float, cast, func
    from sqlalchemy.dialects.postgresql import JSONB

    if conn.dialect.name == "postgresql":
        return cast(cast(column, JSONB).op("->>")(key), Float)
    return func.json_extract(column, f"$.{key}")  # SQLite and MySQL


def study_tasks(conn: Connection, study_id: int, sample: int = 20) -> list[str]:
    """The task specs a study evaluates, read from its latest trials' evaluations.

    Every trial of a study is evaluated on the study's tasks, so a few trials tell them
    all; reading their evaluations is much cheaper than scanning the study's rows.
    """
    a, t, e = ot.trial_user_attributes, ot.trials, schema.evaluations
    lists = conn.execute(
        select(a.c.value_json)
        .join(t, t.c.trial_id == a.c.trial_id)
        .where(t.c.study_id == study_id, a.c.key == "evaluation_ids")
        .order_by(t.c.trial_id.desc())
        .limit(sample)
    ).scalars()
    ids = sorted({int(i) for text in lists for i in json.loads(text)})
    if not ids:
        return []
    return sorted(
        conn.execute(select(e.c.task).where(e.c.evaluation_id.in_(ids)).distinct()).scalars()
    )


# What the per-trial summary reads of each evaluation, and what a trial's detail shows.
_SUMMARISED = ("task", "seed", "capability", "wall_s", "tokens_per_s", "peak_memory_bytes",
               "device", "backend")  # fmt: skip
_DETAIL = ("task", "seed", "fidelity", "budget_hash", "status", "capability", "wall_s",
           "tokens_per_s", "peak_memory_bytes", "device", "backend", "error", "metrics_json",
           "curve_json", "clean_json", "budget_json", "memory_kind", "versions_json",
           "study_name", "trial_number", "created_at", "arch_hash")  # fmt: skip
_INTEGERS = ("evaluation_id", "seed", "fidelity", "peak_memory_bytes", "trial_number")
_FLOATS = ("capability", "wall_s", "tokens_per_s", "filler_gap")


def evaluation_rows(conn: Connection, evaluation_ids: pd.Series) -> pd.DataFrame:
    """The evaluations behind each trial, every column of them (metrics, curves, versions,
    ...): one row per (trial_id, evaluation). ``evaluation_ids`` maps trial_id -> list of ids.
    """
    links = _links(evaluation_ids)
    table = _evaluation_table(conn, links, _DETAIL)
    joined = table.reindex(links.to_numpy())
    joined.index = links.index
    joined.insert(0, "evaluation_id", links.to_numpy())
    return joined[joined["task"].notna()]


def _links(evaluation_ids: pd.Series) -> pd.Series:
    """trial_id -> evaluation_id, one entry per link (a cached evaluation serves many)."""
    return evaluation_ids.dropna().explode().dropna().astype(int)


def _evaluation_table(conn: Connection, links: pd.Series, columns: Sequence[str]) -> pd.DataFrame:
    """``columns`` of each evaluation in ``links`` and its filler gap, indexed by evaluation_id."""
    import numpy as np
    import pandas as pd

    e = schema.evaluations
    gap = json_number(conn, e.c.metrics_json, "filler_gap")
    query = select(e.c.evaluation_id, *(e.c[n] for n in columns), gap)
    ids = np.unique(links.to_numpy()).tolist()
    if len(ids) <= MAX_IN_LIST:
        query = query.where(e.c.evaluation_id.in_(ids))
    elif ids:  # the study's rows lie in one id range (cache hits may reach below it)
        query = query.where(e.c.evaluation_id.between(ids[0], ids[-1]))
    names = ["evaluation_id", *columns, "filler_gap"]
    columns = list(zip(*fetch_all(conn, query), strict=True)) or [()] * len(names)
    # Text stays in plain object columns: spreading them onto every (trial, evaluation)
    # pair is then a numpy take.
    kinds = {**dict.fromkeys(_INTEGERS, "Int64"), **dict.fromkeys(_FLOATS, float)}
    table = pd.DataFrame(
        {n: pd.Series(v, dtype=kinds.get(n, object)) for n, v in zip(names, columns, strict=True)}
    ).set_index("evaluation_id")
    if "created_at" in table:  # the raw cursor gives SQLite's text or the server's datetimes
        table["created_at"] = pd.to_datetime(table["created_at"], format="ISO8601")
    return table


def evaluation_frame(
    conn: Connection,
    evaluation_ids: pd.Series,
    labels: dict[str, str],
    names: Collection[str],
) -> pd.DataFrame:
    """Per-trial capability per task (mean over seeds), filler gaps and measurements."""
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(index=evaluation_ids.index)
    links = _links(evaluation_ids)
    table = _evaluation_table(conn, links, _SUMMARISED)
    at = table.index.get_indexer(links.to_numpy())  # each link's evaluation row
    found = at >= 0
    if not found.any():
        return frame.reindex(columns=list(names))
    at, trial = at[found], links.index.to_numpy()[found]
    # Text becomes integer codes over the distinct evaluations, before it is spread onto
    # every link: the groupings below then run on integers.
    task_codes, tasks = pd.factorize(table["task"].to_numpy(dtype=object))
    rows = pd.DataFrame(
        {
            "trial": trial,
            "task": task_codes[at],
            **{n: table[n].array.take(at) for n in ("capability", "filler_gap", "seed", "wall_s",
                                                     "tokens_per_s", "peak_memory_bytes")},
        }
    )  # fmt: skip
    if any(n.startswith(CAPABILITY_PREFIX) for n in names):
        caps = rows.groupby(["trial", "task"])["capability"].mean().unstack()
        caps.columns = [CAPABILITY_PREFIX + labels.get(tasks[c], tasks[c]) for c in caps.columns]
        frame = frame.join(caps)
    if any(n.startswith(GAP_PREFIX) for n in names):
        filler = np.array([has_filler(task) for task in tasks])[rows["task"].to_numpy()]
        gaps = rows[filler].groupby(["trial", "task"])["filler_gap"].mean().unstack()
        gaps.columns = [GAP_PREFIX + labels.get(tasks[c], tasks[c]) for c in gaps.columns]
        frame = frame.join(gaps)
    grouped = rows.groupby("trial")
    frame["n_evaluations"] = grouped.size()
    frame["n_seeds"] = grouped["seed"].nunique()
    # Each row is its own evaluate call (one task, seed and budget): the trial's time is the sum.
    frame["eval_wall_s"] = grouped["wall_s"].sum(min_count=1)
    frame["tokens_per_s"] = grouped["tokens_per_s"].mean()
    frame["peak_memory_bytes"] = grouped["peak_memory_bytes"].max()
    for name in ("device", "backend"):  # each trial's first one given
        spread = table[name].to_numpy(dtype=object)[at]
        given = pd.notna(spread)
        trials, first = np.unique(trial[given], return_index=True)
        frame[name] = pd.Series(spread[given][first], index=trials).astype("str")
    return frame.reindex(columns=list(names))


def task_scores(
    conn: Connection, trials: pd.DataFrame | None, labels: dict[str, str]
) -> pd.DataFrame:
    """One row per evaluation of ``trials`` (``number`` and ``evaluation_ids`` columns):
    number, task, label, seed, capability and the held-out positions it was scored on."""
    import pandas as pd

    names = ["number", "task", "label", "seed", "capability", "positions"]
    if trials is None or trials.empty:
        return pd.DataFrame(columns=names)
    rows = evaluation_rows(conn, trials["evaluation_ids"])
    positions = rows["metrics_json"].map(lambda text: json.loads(text or "{}").get("positions"))
    return pd.DataFrame({
        "number": trials["number"].reindex(rows.index).to_numpy(),
        "task": rows["task"].to_numpy(),
        "label": rows["task"].map(lambda task: labels.get(task, task)).to_numpy(),
        "seed": rows["seed"].to_numpy(),
        "capability": rows["capability"].to_numpy(),
        "positions": positions.astype(float).to_numpy(),
    })  # fmt: skip
