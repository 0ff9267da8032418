"""The toolkit's ``evaluations`` table as per-trial DataFrames.

Trials reach their evaluations through the ``evaluation_ids`` user attribute written by
the study driver (see :mod:`nas.db.schema`); frames are indexed by ``trial_id`` so they
join onto the trial columns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from nas.db import _optuna_tables as ot
from nas.db import schema

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
        labels[spec] = name + (":" + ",".join(f"{k}={params[k]}" for k in differing) if differing else "")
    return labels


def _split_spec(spec: str) -> tuple[str, dict[str, str]]:
    name, _, rest = spec.partition(":")
    params = dict(item.split("=", 1) for item in rest.split(",") if "=" in item)
    return name, params


def has_filler(task: str) -> bool:
    """Whether a task spec inserts filler tokens (its results carry a filler gap)."""
    match = _FILLER.search(task)
    return bool(match and int(match.group(1)) > 0)


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
        .order_by(t.c.number.desc())
        .limit(sample)
    ).scalars()
    ids = sorted({int(i) for text in lists for i in json.loads(text)})
    if not ids:
        return []
    return sorted(conn.execute(select(e.c.task).where(e.c.evaluation_id.in_(ids)).distinct()).scalars())


def _arch_in_study(column, study_id: int):  # type: ignore[no-untyped-def]
    """SQL test: ``column`` (an arch hash) is the ``arch_hash`` user attribute of a trial of the study."""
    a, t = ot.trial_user_attributes, ot.trials
    hashes = (
        select(func.substr(a.c.value_json, 2, func.length(a.c.value_json) - 2))
        .join(t, t.c.trial_id == a.c.trial_id)
        .where(t.c.study_id == study_id, a.c.key == "arch_hash")
    )
    return column.in_(hashes)


def evaluation_rows(
    conn: Connection,
    evaluation_ids: pd.Series,
    study_id: int,
    detail: bool = False,
) -> pd.DataFrame:
    """The evaluations behind each trial: one row per (trial_id, evaluation).

    ``evaluation_ids`` maps trial_id -> list of ids. With ``detail``, metrics, curves and
    every measurement column come too.
    """
    import pandas as pd

    e = schema.evaluations
    links = evaluation_ids.dropna().explode().dropna()
    links = links.astype(int)
    base = ["evaluation_id", "task", "seed", "fidelity", "budget_hash", "status", "capability",
            "wall_s", "tokens_per_s", "peak_memory_bytes", "device", "backend", "metrics_json"]  # fmt: skip
    extra = ["error", "curve_json", "clean_json", "budget_json", "memory_kind", "versions_json",
             "study_name", "trial_number", "created_at", "arch_hash"] if detail else []  # fmt: skip
    query = select(*(e.c[n] for n in base + extra))
    ids = sorted(set(links))
    if len(ids) <= 500:
        query = query.where(e.c.evaluation_id.in_(ids))
    else:
        query = query.where(_arch_in_study(e.c.arch_hash, study_id))
    rows = pd.DataFrame(conn.execute(query).all(), columns=base + extra).set_index("evaluation_id")
    joined = rows.reindex(links.to_numpy())
    joined.index = links.index
    joined.insert(0, "evaluation_id", links.to_numpy())
    return joined[joined["task"].notna()]


def evaluation_frame(
    conn: Connection,
    evaluation_ids: pd.Series,
    study_id: int,
    labels: dict[str, str],
    names: Collection[str],
) -> pd.DataFrame:
    """Per-trial capability per task (mean over seeds), filler gaps and measurements."""
    import pandas as pd

    rows = evaluation_rows(conn, evaluation_ids, study_id)
    frame = pd.DataFrame(index=evaluation_ids.index)
    if rows.empty:
        return frame.reindex(columns=list(names))
    rows["label"] = rows["task"].map(labels)
    if any(n.startswith(CAPABILITY_PREFIX) for n in names):
        caps = rows.pivot_table(index=rows.index, columns="label", values="capability", aggfunc="mean")
        frame = frame.join(caps.add_prefix(CAPABILITY_PREFIX))
    if any(n.startswith(GAP_PREFIX) for n in names):
        filler = rows[rows["task"].map(has_filler)]
        gaps = filler["metrics_json"].map(lambda text: json.loads(text).get("filler_gap"))
        gap_rows = pd.DataFrame({"label": filler["label"], "gap": gaps.astype(float)})
        pivot = gap_rows.pivot_table(index=gap_rows.index, columns="label", values="gap", aggfunc="mean")
        frame = frame.join(pivot.add_prefix(GAP_PREFIX))
    grouped = rows.groupby(level=0)
    frame["n_evaluations"] = grouped.size()
    frame["n_seeds"] = grouped["seed"].nunique()
    # One evaluate call trains every task for one seed and budget: count its wall time once.
    calls = rows.reset_index().groupby(["trial_id", "seed", "budget_hash"])["wall_s"].max()
    frame["eval_wall_s"] = calls.groupby(level=0).sum()
    frame["tokens_per_s"] = grouped["tokens_per_s"].mean()
    frame["peak_memory_bytes"] = grouped["peak_memory_bytes"].max()
    frame["device"] = grouped["device"].first()
    frame["backend"] = grouped["backend"].first()
    return frame.reindex(columns=list(names))
