"""Optuna's RDB tables as SQLAlchemy Core objects, declared here for reading only.

Only the columns nas.db reads are declared; the schema itself is Optuna's and is left as
Optuna defines it (see optuna/storages/_rdb/models.py). Declaring them here rather than
importing Optuna's ORM models keeps ``nas db`` free of the cost of importing Optuna.
Enum columns are declared as text (their member names, e.g. ``COMPLETE``, ``MAXIMIZE``);
on PostgreSQL they are native enums, so comparisons cast them to text.
"""

from __future__ import annotations

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

# Optuna's study system attribute holding the metric names (study.set_metric_names).
METRIC_NAMES_KEY = "study:metric_names"
