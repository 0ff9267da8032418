"""Optuna's RDB tables as SQLAlchemy Core objects, declared here for reading only.

Only the columns nas.db reads are declared; the schema itself is Optuna's and is left as
Optuna defines it (see optuna/storages/_rdb/models.py). Declaring them here rather than
importing Optuna's ORM models keeps ``nas db`` free of the cost of importing Optuna.
Enum columns are read as text (their member names, e.g. ``COMPLETE``, ``MAXIMIZE``).
"""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import Column, DateTime, Float, Integer, MetaData, String, Table, Text

metadata = MetaData()

studies = Table(
    "studies",
    metadata,
    Column("study_id", Integer, primary_key=True),
    Column("study_name", String(512)),
)
study_directions = Table(
    "study_directions",
    metadata,
    Column("study_direction_id", Integer, primary_key=True),
    Column("study_id", Integer),
    Column("objective", Integer),
    Column("direction", String(8)),
)
study_system_attributes = Table(
    "study_system_attributes",
    metadata,
    Column("study_system_attribute_id", Integer, primary_key=True),
    Column("study_id", Integer),
    Column("key", String(512)),
    Column("value_json", Text),
)
study_user_attributes = Table(
    "study_user_attributes",
    metadata,
    Column("study_user_attribute_id", Integer, primary_key=True),
    Column("study_id", Integer),
    Column("key", String(512)),
    Column("value_json", Text),
)
trials = Table(
    "trials",
    metadata,
    Column("trial_id", Integer, primary_key=True),
    Column("number", Integer),
    Column("study_id", Integer),
    Column("state", String(8)),
    Column("datetime_start", DateTime),
    Column("datetime_complete", DateTime),
)
trial_values = Table(
    "trial_values",
    metadata,
    Column("trial_value_id", Integer, primary_key=True),
    Column("trial_id", Integer),
    Column("objective", Integer),
    Column("value", Float),
    Column("value_type", String(7)),
)
trial_params = Table(
    "trial_params",
    metadata,
    Column("param_id", Integer, primary_key=True),
    Column("trial_id", Integer),
    Column("param_name", String(512)),
    Column("param_value", Float),
    Column("distribution_json", Text),
)
trial_user_attributes = Table(
    "trial_user_attributes",
    metadata,
    Column("trial_user_attribute_id", Integer, primary_key=True),
    Column("trial_id", Integer),
    Column("key", String(512)),
    Column("value_json", Text),
)
trial_system_attributes = Table(
    "trial_system_attributes",
    metadata,
    Column("trial_system_attribute_id", Integer, primary_key=True),
    Column("trial_id", Integer),
    Column("key", String(512)),
    Column("value_json", Text),
)
trial_intermediate_values = Table(
    "trial_intermediate_values",
    metadata,
    Column("trial_intermediate_value_id", Integer, primary_key=True),
    Column("trial_id", Integer),
    Column("step", Integer),
    Column("intermediate_value", Float),
    Column("intermediate_value_type", String(7)),
)
trial_heartbeats = Table(
    "trial_heartbeats",
    metadata,
    Column("trial_heartbeat_id", Integer, primary_key=True),
    Column("trial_id", Integer),
)
version_info = Table(
    "version_info",
    metadata,
    Column("version_info_id", Integer, primary_key=True),
    Column("schema_version", Integer),
    Column("library_version", String(256)),
)
alembic_version = Table("alembic_version", metadata, Column("version_num", String(32)))

# Optuna stores +-inf (and NaN for intermediate values) as a NULL value plus a type tag.
_SPECIAL_FLOATS = {"INF_POS": math.inf, "INF_NEG": -math.inf, "NAN": math.nan}

METRIC_NAMES_KEY = "study:metric_names"  # Optuna's study system attribute for metric names


def decode_float(value: float | None, value_type: str) -> float:
    """The float Optuna stored as (value, value_type)."""
    special = _SPECIAL_FLOATS.get(value_type)
    if special is not None:
        return special
    return math.nan if value is None else float(value)


def decode_param(value: float, distribution_json: str, cache: dict[str, Any]) -> Any:
    """A trial parameter in its user-facing form (categorical index -> choice, ints as int).

    ``cache`` maps distribution JSON to its parsed form across calls.
    """
    distribution = cache.get(distribution_json)
    if distribution is None:
        distribution = cache[distribution_json] = json.loads(distribution_json)
    name = distribution.get("name", "")
    if name == "CategoricalDistribution":
        return distribution["attributes"]["choices"][int(value)]
    if "Int" in name:
        return int(value)
    return float(value)
