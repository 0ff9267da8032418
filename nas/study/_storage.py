"""Study storage: URL checks, SQLite settings, the Optuna RDB storage with heartbeats, and
creating or resuming a study whose settings must match the file's.

SQLite files are put in WAL mode (readers do not block the driver's writes) and every
connection waits up to 60 s for a lock instead of failing. PostgreSQL goes through
``postgresql+psycopg://``. URLs are only ever shown masked (``masked``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from nas.db import masked, parse_url, schema
from nas.errors import UserError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from nas.study._config import StudyConfig

_SQLITE_TIMEOUT_S = 60
_CREATION_WAIT_S = 15
_SAMPLERS = {
    "grid": "GridSampler",
    "random": "RandomSampler",
    "tpe": "TPESampler",
    "nsgaii": "NSGAIISampler",
    "nsgaiii": "NSGAIIISampler",
    "gp": "GPSampler",
}

__all__ = ["masked"]


def check_url(url: str) -> URL:
    """Parse a storage URL, refusing backends and forms a study cannot live in."""
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            raise UserError(
                f"storage {masked(parsed)} is in memory: a study needs a file, e.g. sqlite:///study.db"
            )
    elif backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
    else:
        raise UserError(
            f"storage {masked(parsed)}: use sqlite:///path/to/study.db or "
            "postgresql+psycopg://user@host/dbname"
        )
    return parsed


def open_storage(
    url: str, *, heartbeat_interval: int, max_retry: int
) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage on ``url`` with heartbeats, and the nas tables created or checked.

    A trial whose driver stopped beating for ``2 * heartbeat_interval`` seconds is marked
    FAIL by :func:`optuna.storages.fail_stale_trials`, and re-enqueued with the same
    parameters up to ``max_retry`` times.
    """
    from sqlalchemy.exc import SQLAlchemyError

    parsed = check_url(url)
    engine_kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "").expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_wal(path)
        engine_kwargs["connect_args"] = {"timeout": _SQLITE_TIMEOUT_S}
    else:
        engine_kwargs["pool_pre_ping"] = True
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna's words only
            warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                parsed.render_as_string(hide_password=False),
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_interval,
                grace_period=2 * heartbeat_interval,
                heartbeat_stale_trial_callback=retry_callback(max_retry),
            )
        schema.ensure(storage.engine)
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise UserError(f"cannot open the storage {masked(parsed)}: {reason}") from None
    return storage


def set_user_attrs(
    storage: optuna.storages.RDBStorage, trial_id: int, attrs: Mapping[str, Any]
) -> None:
    """Write user attributes of a RUNNING trial in one transaction, as Optuna stores them.

    Optuna's ``set_user_attr`` commits one attribute at a time; a trial's attributes are
    written together here (faster, and never half-written). The rows are those of
    Optuna's own model, so every Optuna reader sees them unchanged.
    """
    from optuna.storages._rdb.models import TrialUserAttributeModel

    table = TrialUserAttributeModel.__table__
    with storage.engine.begin() as conn:
        conn.execute(
            table.delete().where(table.c.trial_id == trial_id, table.c.key.in_(list(attrs)))
        )
        conn.execute(
            table.insert(),
            [
                {"trial_id": trial_id, "key": k, "value_json": json.dumps(v)}
                for k, v in attrs.items()
            ],
        )


def first_heartbeat(storage: optuna.storages.RDBStorage, trial_id: int) -> None:
    """The first heartbeat of a new trial (Optuna's ``record_heartbeat`` reads before it
    writes; a new trial has no heartbeat yet). Without one, a trial whose driver dies is
    never reclaimed."""
    from optuna.storages._rdb.models import TrialHeartbeatModel
    from sqlalchemy import func
    from sqlalchemy.exc import IntegrityError

    table = TrialHeartbeatModel.__table__
    try:
        with storage.engine.begin() as conn:
            conn.execute(table.insert().values(trial_id=trial_id, heartbeat=func.now()))
    except IntegrityError:  # it had one after all
        storage.record_heartbeat(trial_id)


def stamp_unbeaten_trials(storage: optuna.storages.RDBStorage, study_id: int) -> None:
    """A first heartbeat, stamped now, for every RUNNING trial of the study that has none.

    A driver killed between Optuna's ``ask`` and :func:`first_heartbeat` leaves such a
    trial, and Optuna's stale check skips trials without a heartbeat: the study would wait
    for it forever. Stamped, it goes stale after the grace period and is reclaimed like any
    other; a live driver's new trial gets its own beats meanwhile.
    """
    from optuna.storages._rdb.models import TrialHeartbeatModel, TrialModel
    from optuna.trial import TrialState
    from sqlalchemy import exists, func, select
    from sqlalchemy.exc import IntegrityError

    beats, trials = TrialHeartbeatModel.__table__, TrialModel.__table__
    unbeaten = select(trials.c.trial_id, func.now()).where(
        trials.c.study_id == study_id,
        trials.c.state == TrialState.RUNNING,
        ~exists().where(beats.c.trial_id == trials.c.trial_id),
    )
    try:
        with storage.engine.begin() as conn:
            conn.execute(beats.insert().from_select(["trial_id", "heartbeat"], unbeaten))
    except IntegrityError:  # a live driver stamped its new trial meanwhile: next time
        pass


def retry_callback(max_retry: int) -> optuna.storages.RetryHeartbeatStaleTrialCallback:
    """Re-enqueues a failed trial's parameters (and attributes) as a new waiting trial."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)


def _sqlite_wal(path: Path) -> None:
    """Switch the file to WAL journaling (a property of the file: set once, kept)."""
    connection = sqlite3.connect(os.fspath(path), timeout=_SQLITE_TIMEOUT_S)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


def sampler_class(name: str) -> type[optuna.samplers.BaseSampler]:
    """The Optuna sampler class of a study file's sampler name."""
    return getattr(optuna.samplers, _SAMPLERS[name])


class _GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler, without its ``study.stop()`` once the grid is done: that only
    works inside ``study.optimize``, and the driver (ask/tell) decides when to stop."""

    def after_trial(self, *args: Any, **kwargs: Any) -> None:
        pass


def make_sampler(config: StudyConfig, seed: int) -> optuna.samplers.BaseSampler:
    if config.sampler == "grid":
        return _GridSampler(config.space.grid_search_space(), seed=seed)
    cls = sampler_class(config.sampler)
    return cls(seed=seed, **config.sampler_options)


def create_or_load(
    config: StudyConfig, storage: optuna.storages.RDBStorage
) -> tuple[optuna.Study, bool]:
    """Create the study (enqueuing its baselines), or load it if it exists; True if created.

    A study that exists must have been created from the same settings (same
    :meth:`StudyConfig.fingerprint`): its values would not compare otherwise. Only the
    driver that creates the study enqueues the baselines, so concurrent drivers do not
    duplicate them. That driver samples with the file's seed; a driver joining or resuming
    a study mixes in its process id and the trial count, so two drivers draw differently.
    """
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=config.name,
            directions=config.directions,
            sampler=make_sampler(config, config.sampler_seed),
        )
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        created = False
    if created:
        with warnings.catch_warnings():  # set_metric_names is stable in use, "experimental" in name
            warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(config.objective_names)
        study.set_user_attr(schema.CONFIG_ATTR, config.summary)
        study.set_user_attr(schema.FINGERPRINT_ATTR, config.fingerprint())
        for baseline in config.baselines:
            study.enqueue_trial(baseline.params, user_attrs={"baseline": baseline.label})
        return study, True
    probe = optuna.load_study(study_name=config.name, storage=storage)
    _check_same_study(config, probe, storage)
    seed = hash((config.sampler_seed, os.getpid(), len(probe.trials))) % 2**31
    study = optuna.load_study(
        study_name=config.name, storage=storage, sampler=make_sampler(config, seed)
    )
    return study, False


def _check_same_study(
    config: StudyConfig, study: optuna.Study, storage: optuna.storages.RDBStorage
) -> None:
    directions = [d.name.lower() for d in study.directions]
    attrs = study.user_attrs
    deadline = time.monotonic() + _CREATION_WAIT_S
    while schema.FINGERPRINT_ATTR not in attrs and time.monotonic() < deadline:
        time.sleep(0.2)  # another driver may have just created it and be writing its settings
        attrs = study.user_attrs
    if schema.FINGERPRINT_ATTR not in attrs:
        raise UserError(
            f"the study {config.name!r} in {masked(storage.url)} was not created by nas run: "
            "give the study another name"
        )
    if attrs[schema.FINGERPRINT_ATTR] == config.fingerprint() and directions == config.directions:
        return
    stored = attrs.get(schema.CONFIG_ATTR, {})
    differing = [
        key
        for key in (
            "space",
            "tasks",
            "budget",
            "fidelity",
            "objectives",
            "constraints",
            "seeds",
            "compute",
        )
        if stored.get(key) != config.summary.get(key)
    ]
    raise UserError(
        f"the study {config.name!r} in {masked(storage.url)} was created with other settings "
        f"({', '.join(differing) or 'objectives'} differ): its results would not compare. Keep "
        "the file as it was to resume, or give the study a new name"
    )
