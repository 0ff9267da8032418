"""The toolkit's own tables, beside Optuna's in the same database.

Optuna's tables (``studies``, ``trials``, ``trial_values``, ...) are left exactly as Optuna
defines them, so the ``optuna`` CLI and optuna-dashboard read a ``nas run`` database. The
driver of a study (:mod:`nas.study`) is the only writer of these tables too; ``nas.db``
reads them. Every column is described in its ``comment`` (PostgreSQL keeps it).

Tables
------
``nas_schema_version``
    One row: the version of these tables (:data:`SCHEMA_VERSION`). :func:`ensure` creates
    the tables on first use; a database written by an older toolkit is upgraded only by an
    explicit :func:`upgrade` (`nas db upgrade`), and a newer one is refused
    (:class:`SchemaVersionError`).
``architectures``
    One row per architecture hash: the canonical ArchSpec JSON, its identity flattened into
    columns for queries, and its length-independent parameter counts.
``arch_figures``
    The length-dependent compute figures of an architecture at one (``seq_len``,
    ``context``) pair, as :func:`nas.compute.estimate` returns them. Studies with different
    sequence lengths or inference contexts each add their own row.
``evaluations``
    One row per (architecture, task, budget, seed) training run, with its metrics and
    learning curve. The cache key is (``arch_hash``, ``task``, ``budget_hash``, ``seed``):
    an ``ok`` row with that key is reused by every later study in the database, and a
    ``stopped`` row (a run cancelled by multi-fidelity promotion) serves the fidelity
    levels its curve reached. Each row is one ``evaluate`` call on one task and seed, so
    its ``wall_s``, ``tokens_per_s`` and ``peak_memory_bytes`` are that run's own.

Trial user attributes (written by the driver on each Optuna trial)
------------------------------------------------------------------
``arch_hash`` (str)          the trial's architecture, key of ``architectures``
``family`` / ``layout``      ``"ssm" | "attention" | "hybrid"`` and the canonical layout
``evaluation_ids`` (list)    ``evaluations.evaluation_id`` of the ``ok`` runs behind its values
                             (one per task and seed; cached runs keep their ids)
``fidelity`` (int)           0-based fidelity level reached (the last level when COMPLETE)
``budget_hash`` (str)        ``evaluations.budget_hash`` of the study's budget
``capability`` (float)       the weighted capability, when it is an objective
``cached`` (bool)            every evaluation came from the cache, none was trained
``rung_values`` (list)       multi-fidelity only: the objective values used for promotion
                             at each level reached (capability and compute objectives)
``fail_reason`` (str)        why a FAIL or PRUNED trial ended (absent otherwise)
``duplicate_of`` (int)       number of the earlier trial whose outcome was copied
``baseline`` (str)           the study file's baseline this trial runs
``interrupted`` (bool)       a FAIL left by Ctrl-C; a waiting copy re-runs its parameters

The study's own user attributes hold ``nas_config`` (the resolved study file: space,
tasks and weights, budget, fidelity, objectives, constraints, seeds, compute settings,
sampler) and ``nas_fingerprint``. A companion study that ``nas fidelity`` runs also holds
``fidelity_check`` in its ``nas_config``: the study it checks (``of``), the check id, the budget
``factor``, where the architectures came from (``source``) and their hashes.

Example:
    >>> from sqlalchemy import create_engine
    >>> engine = create_engine("sqlite://")
    >>> ensure(engine)
    1
    >>> sorted(metadata.tables)
    ['arch_figures', 'architectures', 'evaluations', 'nas_schema_version']
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    inspect,
    select,
)

from nas.errors import UserError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

SCHEMA_VERSION = 1
"""Version of the tables below; bump it with a step in :func:`upgrade` when they change."""

CONFIG_ATTR = "nas_config"
"""Study user attribute holding the resolved study file (see the module docstring)."""
FINGERPRINT_ATTR = "nas_fingerprint"
"""Study user attribute holding a hash of that file, to refuse resuming a changed study."""

metadata = MetaData()

schema_version = Table(
    "nas_schema_version",
    metadata,
    Column("version", Integer, primary_key=True, comment="version of the nas tables"),
    Column("nas_version", String(32), nullable=False, comment="nas package that wrote it"),
    Column("updated_at", DateTime, nullable=False, comment="UTC time it was created/upgraded"),
    comment="the version of the nas tables in this database (one row)",
)

architectures = Table(
    "architectures",
    metadata,
    Column("arch_hash", String(16), primary_key=True, comment="ArchSpec.arch_hash"),
    Column("spec_json", Text, nullable=False, comment="canonical ArchSpec.to_json()"),
    Column("layout", String(512), nullable=False, comment="canonical layout, e.g. MFMFMFAF"),
    Column("family", String(16), nullable=False, comment="ssm, attention or hybrid"),
    Column("ratio", String(16), nullable=False, comment="SSM:attention in lowest terms"),
    Column("n_layers", Integer, nullable=False, comment="mixer layers (M and A blocks)"),
    Column("n_ssm", Integer, nullable=False, comment="SSM (M) blocks"),
    Column("n_attention", Integer, nullable=False, comment="attention (A) blocks"),
    Column("n_mlp", Integer, nullable=False, comment="MLP (F) blocks"),
    Column("d_model", Integer, nullable=False, comment="residual width"),
    Column("vocab_size", Integer, nullable=False, comment="token vocabulary"),
    Column("ssm_kind", String(16), comment="mamba1 or mamba2; null without SSM blocks"),
    Column("d_state", Integer, comment="SSM state size N; null without SSM blocks"),
    Column("params", BigInteger, nullable=False, comment="nas.compute.param_count"),
    Column(
        "non_embedding_params",
        BigInteger,
        nullable=False,
        comment="nas.compute.non_embedding_params",
    ),
    Column("created_at", DateTime, nullable=False, comment="UTC time of the first insert"),
    comment="one row per architecture evaluated or considered by any study",
)

arch_figures = Table(
    "arch_figures",
    metadata,
    Column(
        "arch_hash",
        String(16),
        ForeignKey("architectures.arch_hash"),
        primary_key=True,
        comment="the architecture",
    ),
    Column("seq_len", Integer, primary_key=True, comment="training sequence length"),
    Column("context", Integer, primary_key=True, comment="inference context length"),
    Column(
        "train_flops_per_token",
        Float,
        nullable=False,
        comment="nas.compute.train_flops_per_token(arch, seq_len)",
    ),
    Column(
        "prefill_flops", Float, nullable=False, comment="nas.compute.prefill_flops(arch, context)"
    ),
    Column(
        "decode_flops_per_token",
        Float,
        nullable=False,
        comment="nas.compute.decode_flops_per_token(arch, context)",
    ),
    Column(
        "state_bytes",
        BigInteger,
        nullable=False,
        comment="nas.compute.state_bytes(arch, context), bf16",
    ),
    comment="length-dependent compute figures of an architecture",
)

evaluations = Table(
    "evaluations",
    metadata,
    Column("evaluation_id", Integer, primary_key=True, autoincrement=True, comment="row id"),
    Column(
        "arch_hash",
        String(16),
        ForeignKey("architectures.arch_hash"),
        nullable=False,
        comment="the architecture trained",
    ),
    Column("task", String(256), nullable=False, comment="canonical task spec (Task.spec)"),
    Column(
        "budget_hash", String(16), nullable=False, comment="budget_hash(Budget.key): cache key part"
    ),
    Column("budget_json", Text, nullable=False, comment="Budget.key: every training setting"),
    Column("seed", Integer, nullable=False, comment="training seed"),
    Column("fidelity", Integer, comment="0-based fidelity level in the study that ran it"),
    Column(
        "status",
        String(16),
        nullable=False,
        comment="ok, diverged, failed, or stopped (cancelled by multi-fidelity promotion)",
    ),
    Column("error", Text, comment="message when status is not ok"),
    Column("capability", Float, comment="task capability in [0, 1] at the end of training"),
    Column(
        "metrics_json", Text, nullable=False, comment="raw held-out metrics and training totals"
    ),
    Column("curve_json", Text, nullable=False, comment="intermediate evaluations (learning curve)"),
    Column("clean_json", Text, comment="a filler task's clean counterpart run (TaskResult)"),
    Column("wall_s", Float, comment="wall time of the evaluate call that produced this row"),
    Column("tokens_per_s", Float, comment="training tokens/s measured by that call"),
    Column("peak_memory_bytes", BigInteger, comment="peak memory measured by that call"),
    Column("memory_kind", String(32), comment="cuda_allocator or rss: what peak memory is"),
    Column("device", String(64), comment="device it trained on"),
    Column("backend", String(32), comment="kernel backend used"),
    Column("versions_json", Text, comment="package versions of the worker"),
    Column("study_name", String(512), comment="study whose driver wrote the row"),
    Column("trial_number", Integer, comment="that study's trial number"),
    Column("created_at", DateTime, nullable=False, comment="UTC time the row was written"),
    Index("ix_evaluations_cache", "arch_hash", "task", "budget_hash", "seed"),
    comment="one row per training run of an architecture on a task",
)


class SchemaVersionError(UserError):
    """The database's nas tables are of another version than this toolkit's."""


def budget_hash(budget_key: str) -> str:
    """Short stable id of a budget: the first 16 hex digits of SHA-256 of ``Budget.key``."""
    return hashlib.sha256(budget_key.encode()).hexdigest()[:16]


def read_version(conn: Connection) -> int | None:
    """The schema version recorded in the database, or None when the tables are absent."""
    if not inspect(conn).has_table(schema_version.name):
        return None
    return conn.execute(select(schema_version.c.version)).scalar()


def check(conn: Connection) -> int | None:
    """Verify that the tables, if present, are this toolkit's version; returns the version.

    Raises :class:`SchemaVersionError` for a newer version (upgrade nas) or an older one
    (run :func:`upgrade`). Does not write.
    """
    version = read_version(conn)
    if version is None or version == SCHEMA_VERSION:
        return version
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the database's nas tables are version {version}, newer than this nas "
            f"(version {SCHEMA_VERSION}): upgrade the nas package"
        )
    raise SchemaVersionError(
        f"the database's nas tables are version {version}, older than this nas "
        f"(version {SCHEMA_VERSION}): back it up, then run `nas db upgrade --storage URL`"
    )


def ensure(engine: Engine) -> int:
    """Create the tables on first use, or check the version of existing ones.

    Safe to call from several drivers at once: when two race to create the tables, the
    loser's statement fails and it checks again what the winner created.
    """
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    for attempt in range(3):
        try:
            with engine.begin() as conn:
                if check(conn) is not None:
                    return SCHEMA_VERSION
                metadata.create_all(conn, checkfirst=True)
                _record(conn)
            return SCHEMA_VERSION
        except (IntegrityError, OperationalError, ProgrammingError):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def upgrade(engine: Engine) -> tuple[int | None, int]:
    """Bring older nas tables to :data:`SCHEMA_VERSION` (explicit; never run implicitly);
    returns (the version before, None when there were no tables; the version now).

    Version 1 is the first: there is no older version to convert, so this creates any
    missing table and records the version. Later versions add their steps here. Tables of
    a newer toolkit are refused before anything is written.
    """
    with engine.begin() as conn:
        version = read_version(conn)
        if version is not None and version > SCHEMA_VERSION:
            check(conn)
        metadata.create_all(conn, checkfirst=True)
        if version != SCHEMA_VERSION:
            conn.execute(schema_version.delete())
            _record(conn)
    return version, SCHEMA_VERSION


def _record(conn: Connection) -> None:
    from sqlalchemy.exc import IntegrityError

    from nas import __version__

    if conn.execute(select(schema_version.c.version)).first() is not None:
        return
    try:
        with conn.begin_nested():
            conn.execute(
                insert(schema_version).values(
                    version=SCHEMA_VERSION,
                    nas_version=__version__,
                    updated_at=datetime.now(timezone.utc).replace(tzinfo=None),
                )
            )
    except IntegrityError:  # another driver recorded it first
        pass
