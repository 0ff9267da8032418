"""The read-only query API over a study database (see the package docstring)."""

from __future__ import annotations

import difflib
import gc
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from nas.db import _nas_frames as nas_frames
from nas.db import _optuna_frames as frames
from nas.db import _optuna_tables as ot
from nas.db import _trial_query as tq
from nas.db import schema
from nas.db._catalogue import Catalogue
from nas.db._fold import FOLD_KEYS, N_TRIALS, fold
from nas.db._pareto import non_dominated
from nas.db._readonly import check_read_only
from nas.db._storage import StorageError, masked, open_engine, parse_url
from nas.db._where import Where
from nas.errors import UserError

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection, Engine

    from nas.db._fidelity import FidelityResult

_TYPE_SAMPLE = 200  # rows a column's type is read off


class UnknownStudy(UserError):
    """A study name that is not in the database; the message lists the ones that are."""


class Database:
    """Read-only queries over a study database written by ``nas run`` (or any Optuna RDB).

    Every method opens a read-only connection: nothing here can change the database.

    Example:
        >>> db = Database("sqlite:///runs/nas.db")                                # doctest: +SKIP
        >>> db.trials("quickstart", where="d_state >= 16", sort="-capability", limit=5)  # doctest: +SKIP
        >>> db.pareto("quickstart")                                               # doctest: +SKIP
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine = open_engine(url)
        self._checked = False

    def __repr__(self) -> str:
        return f"Database({self.masked_url!r})"

    @property
    def masked_url(self) -> str:
        """The URL with its password hidden, for printing."""
        return masked(self.url)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            connection = self._engine.connect()
        except OperationalError as error:
            raise StorageError(f"cannot open {masked(self.url)}: {_reason(error)}") from None
        try:
            if not self._checked:
                self._check_schema(connection)
                self._checked = True
            yield connection
        except (OperationalError, ProgrammingError) as error:
            raise StorageError(f"query failed on {masked(self.url)}: {_reason(error)}") from None
        finally:
            connection.close()

    def _check_schema(self, conn: Connection) -> None:
        from sqlalchemy import inspect

        tables = set(inspect(conn).get_table_names())
        if "studies" not in tables or "trials" not in tables:
            raise StorageError(
                f"{masked(self.url)} holds no Optuna study tables: is it the database `nas run` wrote?"
            )
        try:
            schema.check(conn)
        except schema.SchemaVersionError as error:
            raise schema.SchemaVersionError(f"{masked(self.url)}: {error}") from None

    # -- studies --------------------------------------------------------------------------
    def study_names(self) -> list[str]:
        """Names of the studies in the database, sorted."""
        with self._connect() as conn:
            return sorted(conn.execute(select(ot.studies.c.study_name)).scalars())

    def studies(self) -> pd.DataFrame:
        """One row per study: trial counts per state, objectives, first start and last end."""
        with self._connect() as conn:
            return frames.study_summaries(conn)

    def _study_id(self, conn: Connection, study: str) -> int:
        found = conn.execute(
            select(ot.studies.c.study_id).where(ot.studies.c.study_name == study)
        ).scalar()
        if found is not None:
            return int(found)
        names = sorted(conn.execute(select(ot.studies.c.study_name)).scalars())
        raise UnknownStudy(_unknown_study_message(study, names, masked(self.url)))

    def objectives(self, study: str) -> dict[str, str]:
        """The study's objectives in order: name -> ``"maximize"`` or ``"minimize"``."""
        with self._connect() as conn:
            return self._objectives(conn, self._study_id(conn, study))

    @staticmethod
    def _objectives(conn: Connection, study_id: int) -> dict[str, str]:
        names = frames.metric_names_by_study(conn, study_id).get(study_id)
        return frames.objectives(frames.directions(conn, study_id), names)

    # -- trials ---------------------------------------------------------------------------
    def columns(self, study: str) -> list[str]:
        """Every column :meth:`trials` can return for ``study``, in display order."""
        with self._connect() as conn:
            return self._catalogue(conn, self._study_id(conn, study)).names()

    def describe_columns(self, study: str) -> pd.DataFrame:
        """Every column of :meth:`trials` with its type (read off the study's first rows)
        and what it means: ``column``, ``type``, ``meaning``."""
        from nas.db._columns import describe

        sample = self.trials(study, limit=_TYPE_SAMPLE)
        return describe(self.columns(study), sample, self.objectives(study))

    def param_distributions(self, study: str) -> dict[str, str]:
        """Each parameter of the study's trials -> its Optuna distribution JSON (the latest)."""
        with self._connect() as conn:
            return frames.param_distributions(conn, self._study_id(conn, study))

    def summary_columns(self, study: str) -> list[str]:
        """The columns a table of trials shows by default: identity, objectives, the
        architecture's shape, its main compute figures, capability per task, fidelity."""
        with self._connect() as conn:
            catalogue = self._catalogue(conn, self._study_id(conn, study))
        return catalogue.summary()

    def _catalogue(self, conn: Connection, study_id: int) -> Catalogue:
        return Catalogue(conn, study_id, self._objectives(conn, study_id))

    def trials(
        self,
        study: str,
        where: str | None = None,
        columns: Sequence[str] | None = None,
        sort: str | Sequence[str] | None = None,
        limit: int | None = None,
        by_architecture: bool = False,
    ) -> pd.DataFrame:
        """One row per trial of ``study``, in trial-number order unless ``sort`` says otherwise.

        Args:
            where: a filter in the ``--where`` language (see :mod:`nas.db`).
            columns: the columns to return (default: every one, see :meth:`columns`);
                ``number`` always comes first.
            sort: column names, each with an optional ``-`` prefix for descending order;
                missing values go last.
            limit: keep the first ``limit`` rows after filtering and sorting.
            by_architecture: one row per architecture and state instead (the first trial
                of each, with ``n_trials`` counting the trials it stands for); ``where``
                then applies to those rows, so it can read ``n_trials`` too.
        """
        sort_keys = [sort] if isinstance(sort, str) else list(sort or [])
        with self._connect() as conn:
            study_id = self._study_id(conn, study)
            catalogue = self._catalogue(conn, study_id)
            wanted = catalogue.select(columns)
            fold_rows = by_architecture and catalogue.nas_tables
            selected = narrow = None
            if where or sort_keys or limit is not None or fold_rows:
                # Decide the rows from the few columns that matter, then read the rest for them.
                narrow = self._decide(
                    conn, study_id, catalogue, where, sort_keys, limit, fold_rows=fold_rows
                )
                selected = narrow.index.tolist()
            frame = self._read(conn, study_id, catalogue, wanted, selected)
        return _in_order(_counted(frame, narrow), selected)

    def _decide(
        self,
        conn: Connection,
        study_id: int,
        catalogue: Catalogue,
        where: str | None,
        sort_keys: Sequence[str],
        limit: int | None = None,
        extra: Sequence[str] = (),
        states: tuple[str, ...] | None = None,
        fold_rows: bool = False,
    ) -> pd.DataFrame:
        """The deciding columns of the trials that pass ``where`` (and are in ``states``),
        sorted by ``sort_keys``, at most ``limit`` of them; with ``fold_rows``, of the
        architectures (see :func:`nas.db._fold.fold`), folded before ``where`` is applied."""
        condition = Where.parse(where) if where else None
        if condition is not None:
            catalogue.check_where(condition)
        sort_names = [key.lstrip("-+") for key in sort_keys]
        for name in sort_names:
            catalogue.check(name, what="--sort column")
        needed = ["number", *(condition.columns if condition else []), *sort_names, *extra]
        needed = list(dict.fromkeys([*needed, *(FOLD_KEYS if fold_rows else ())]))
        request, evals = catalogue.request(needed)
        request.states = states
        if (
            condition is None
            and not evals
            and not fold_rows
            and request.sortable_in_sql(sort_names)
        ):
            # SQL sorts and cuts: only `limit` rows come back.
            request.order = [
                (name, key.startswith("-")) for name, key in zip(sort_names, sort_keys, strict=True)
            ]
            request.limit = limit
            return self._read(conn, study_id, catalogue, needed, None, request, evals)
        frame = self._read(conn, study_id, catalogue, needed, None, request, evals)
        if fold_rows:
            frame = fold(frame)
        if condition is not None:
            frame = frame[condition.mask(frame)]
        if sort_keys:
            ascending = [not key.startswith("-") for key in sort_keys]
            frame = frame.sort_values(
                [*sort_names, "number"],
                ascending=[*ascending, True],
                kind="stable",
                na_position="last",
            )
        return frame if limit is None else frame.head(limit)

    def _read(
        self,
        conn: Connection,
        study_id: int,
        catalogue: Catalogue,
        names: Sequence[str],
        trial_ids: list[int] | None,
        request: tq.Request | None = None,
        evals: list[str] | None = None,
    ) -> pd.DataFrame:
        """``names`` for the study's trials (or ``trial_ids``); ``request``/``evals`` when the
        caller already built them (e.g. with an SQL order)."""
        if request is None or evals is None:
            request, evals = catalogue.request([n for n in names if n != N_TRIALS])
        link = next((c for c, key in request.attrs.items() if key == "evaluation_ids"), None)
        if evals and link is None:  # read the links to the evaluations, not shown
            link = "\0evaluation_ids"
            request.attrs[link] = "evaluation_ids"
        with _gc_paused():
            frame = tq.read(conn, study_id, request, trial_ids)
            if evals:
                assert link is not None
                ids = frame[link]
                frame = frame.join(
                    nas_frames.evaluation_frame(conn, ids, catalogue.task_labels, evals)
                )
        if not request.order:
            frame = frame.sort_values("number", kind="stable")
        if N_TRIALS in names:  # each row is one trial until it is folded
            frame[N_TRIALS] = 1
        return frame[list(names)]

    # -- Pareto fronts --------------------------------------------------------------------
    def pareto(
        self,
        study: str,
        objectives: Mapping[str, str] | None = None,
        where: str | None = None,
        columns: Sequence[str] | None = None,
        by_architecture: bool = True,
    ) -> pd.DataFrame:
        """The architectures of ``study``'s complete trials that no other one dominates.

        ``objectives`` maps column -> ``"maximize"`` / ``"minimize"`` (default: the study's
        objectives), so a front can be taken over any columns, e.g. capability against
        ``state_bytes``. ``where`` restricts the trials first. Rows come sorted by the first
        objective, best first. An architecture is on the front when one of its trials is;
        it is one row, its first trial on the front, with ``n_trials`` counting its
        complete trials; ``by_architecture=False`` keeps every trial (as Optuna's
        ``best_trials`` does).
        """
        with self._connect() as conn:
            study_id = self._study_id(conn, study)
            catalogue = self._catalogue(conn, study_id)
            goals = _check_goals(dict(objectives or catalogue.objectives))
            wanted = catalogue.select(columns, also=list(goals))
            first = next(iter(goals))
            fold_rows = by_architecture and catalogue.nas_tables
            extra = [*goals, *(FOLD_KEYS if fold_rows else ())]
            narrow = self._decide(
                conn, study_id, catalogue, where, [], extra=extra, states=("COMPLETE",)
            )
            front = narrow[_front_mask(narrow, goals)]
            if fold_rows:
                front = fold(front, counted_in=narrow)
            ascending = goals[first] == "minimize"
            front = front.sort_values([first, "number"], ascending=[ascending, True], kind="stable")
            selected = front.index.tolist()
            frame = self._read(conn, study_id, catalogue, wanted, selected) if selected else None
        return _in_order(_counted(frame, front), selected, wanted)

    def compare(self, study_a: str, study_b: str) -> pd.DataFrame:
        """The Pareto fronts of two studies side by side, over their shared objectives.

        One row per front trial of either study, with ``study`` and, for each row,
        ``dominated_by_other``: whether a front trial of the other study dominates it.
        ``on_joint_front`` marks the rows on the front of both studies pooled.
        """
        import pandas as pd

        goals_a, goals_b = self.objectives(study_a), self.objectives(study_b)
        goals = {name: d for name, d in goals_a.items() if goals_b.get(name) == d}
        if not goals:
            raise UserError(
                f"studies {study_a!r} and {study_b!r} share no objective: "
                f"{', '.join(goals_a)} vs {', '.join(goals_b)}"
            )
        shown = ["number", N_TRIALS, *goals, "family", "ratio", "d_state", "layout", "arch_hash"]
        fronts = []
        for name in (study_a, study_b):
            front = self.pareto(name, objectives=goals)
            front = front[[c for c in shown if c in front.columns]]
            fronts.append(front.assign(study=name))
        both = pd.concat(fronts, ignore_index=True)
        points = both[list(goals)].to_numpy(dtype=float, copy=True)
        for index, direction in enumerate(goals.values()):
            if direction == "maximize":
                points[:, index] = -points[:, index]
        is_a = (both["study"] == study_a).to_numpy()
        both["on_joint_front"] = non_dominated(points)
        both["dominated_by_other"] = [
            _dominated(points[i], points[is_a != is_a[i]]) for i in range(len(points))
        ]
        return both[
            [
                "study",
                *[c for c in shown if c in both.columns],
                "dominated_by_other",
                "on_joint_front",
            ]
        ]

    # -- proxy validity -------------------------------------------------------------------
    def fidelity(self, study: str, check: str | None = None) -> list[FidelityResult]:
        """How far ``study``'s ranking holds at a higher fidelity, computed from the stored
        evaluations: the latest ``nas fidelity`` check (or ``check``), one result per factor,
        and for a multi-fidelity study one per pair of consecutive levels (see
        :mod:`nas.db._fidelity`)."""
        from nas.db import _fidelity

        return _fidelity.read(self, study, check)

    # -- one trial, one architecture ------------------------------------------------------
    def trial(self, study: str, number: int) -> dict[str, Any]:
        """Everything about one trial: ``trial`` (every column), ``evaluations`` (each run
        with metrics and learning curve) and ``architecture`` (the ArchSpec as a dict)."""
        with self._connect() as conn:
            study_id = self._study_id(conn, study)
            t = ot.trials
            trial_id = conn.execute(
                select(t.c.trial_id).where(t.c.study_id == study_id, t.c.number == number)
            ).scalar()
            if trial_id is None:
                count = len(
                    conn.execute(select(t.c.trial_id).where(t.c.study_id == study_id)).all()
                )
                raise UserError(
                    f"study {study!r} has no trial {number} (its trials are 0..{count - 1})"
                )
            catalogue = self._catalogue(conn, study_id)
            names = catalogue.names()
            row = self._read(conn, study_id, catalogue, names, [trial_id]).iloc[0]
            detail: dict[str, Any] = {"trial": {k: _plain(v) for k, v in row.items()}}
            ids = row.get("evaluation_ids")
            evaluations = []
            if isinstance(ids, list) and ids and catalogue.nas_tables:
                links = _series({trial_id: ids})
                rows = nas_frames.evaluation_rows(conn, links)
                for _, evaluation in rows.iterrows():
                    record = {k: _plain(v) for k, v in evaluation.items()}
                    record["task_label"] = catalogue.task_labels.get(record["task"], record["task"])
                    for key in (
                        "metrics_json",
                        "curve_json",
                        "clean_json",
                        "versions_json",
                        "budget_json",
                    ):
                        text = record.pop(key, None)
                        record[key.removesuffix("_json")] = json.loads(text) if text else None
                    evaluations.append(record)
            detail["evaluations"] = evaluations
            spec = detail["trial"].get("spec_json")
            detail["architecture"] = json.loads(spec) if spec else None
        return detail

    def task_scores(self, study: str) -> pd.DataFrame:
        """Each complete architecture's evaluations (its first trial's): one row per task
        and seed with ``number``, ``task`` (the spec), ``label`` (its column name after
        ``cap.``), ``seed``, ``capability`` and ``positions`` (held-out positions scored)."""
        with self._connect() as conn:
            study_id = self._study_id(conn, study)
            catalogue = self._catalogue(conn, study_id)
            if not catalogue.nas_tables:
                return nas_frames.task_scores(conn, None, {})
            rows = self._decide(
                conn, study_id, catalogue, None, [], extra=["evaluation_ids"],
                states=("COMPLETE",), fold_rows=True,
            )  # fmt: skip
            return nas_frames.task_scores(conn, rows, catalogue.task_labels)

    def curves(self, study: str, numbers: Sequence[int] | None = None) -> pd.DataFrame:
        """Learning curves, long format: one row per (trial, task, seed, intermediate eval)
        with ``number``, ``task`` (column label), ``seed``, ``fidelity`` and the curve's
        fields (step, tokens, flops, fraction, loss, capability, ...)."""
        import pandas as pd

        with self._connect() as conn:
            study_id = self._study_id(conn, study)
            catalogue = self._catalogue(conn, study_id)
            if not catalogue.nas_tables:
                return pd.DataFrame(columns=["number", "task", "seed", "fidelity"])
            request = tq.Request(attrs={"evaluation_ids": "evaluation_ids"})
            links = tq.read(conn, study_id, request)
            if numbers is not None:
                links = links[links["number"].isin(list(numbers))]
            rows = nas_frames.evaluation_rows(conn, links["evaluation_ids"])
        records = []
        for trial_id, row in rows.iterrows():
            for point in json.loads(row["curve_json"]):
                records.append({
                    "number": int(links.at[trial_id, "number"]),
                    "task": catalogue.task_labels.get(row["task"], row["task"]),
                    "seed": row["seed"], "fidelity": row["fidelity"], **point,
                })  # fmt: skip
        return pd.DataFrame.from_records(
            records, columns=None if records else ["number", "task", "seed", "fidelity"]
        )

    def evaluations(self, arch_hash: str) -> pd.DataFrame:
        """Every evaluation of one architecture, across studies (a unique hash prefix will do):
        which study ran it, on which task, budget and seed, with what result."""
        import pandas as pd

        with self._connect() as conn:
            full = self._arch_hash(conn, arch_hash)
            e = schema.evaluations
            names = ["evaluation_id", "study_name", "trial_number", "task", "seed", "fidelity",
                     "budget_hash", "status", "capability", "wall_s", "tokens_per_s",
                     "peak_memory_bytes", "device", "backend", "created_at", "error", "metrics_json"]  # fmt: skip
            rows = conn.execute(
                select(*(e.c[n] for n in names))
                .where(e.c.arch_hash == full)
                .order_by(e.c.evaluation_id)
            ).all()
        frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=names)
        gaps = frame.pop("metrics_json").map(lambda text: json.loads(text).get("filler_gap"))
        frame.insert(names.index("capability"), "filler_gap", gaps.astype(float))
        return frame

    def architecture(self, arch_hash: str) -> dict[str, Any]:
        """One architecture: ``arch_hash``, ``spec`` (ArchSpec as a dict), ``figures`` (a list,
        one per (seq_len, context) stored) and ``trials`` (study, number, state) using it."""
        with self._connect() as conn:
            full = self._arch_hash(conn, arch_hash)
            a, f = schema.architectures, schema.arch_figures
            spec = conn.execute(select(a.c.spec_json).where(a.c.arch_hash == full)).scalar()
            figures = [
                dict(r._mapping) for r in conn.execute(select(f).where(f.c.arch_hash == full)).all()
            ]
            t, ua, s = ot.trials, ot.trial_user_attributes, ot.studies

            users = conn.execute(
                select(s.c.study_name, t.c.number, t.c.state)
                .join(t, t.c.trial_id == ua.c.trial_id)
                .join(s, s.c.study_id == t.c.study_id)
                .where(ua.c.key == "arch_hash", ua.c.value_json == json.dumps(full))
                .order_by(s.c.study_name, t.c.number)
            ).all()
        return {
            "arch_hash": full,
            "spec": json.loads(spec) if spec else None,
            "figures": figures,
            "trials": [{"study": n, "number": num, "state": st} for n, num, st in users],
        }

    def _arch_hash(self, conn: Connection, prefix: str) -> str:
        if schema.read_version(conn) is None:
            raise UserError(f"{masked(self.url)} has no nas tables: it holds no architectures")
        a = schema.architectures
        found = (
            conn.execute(
                select(a.c.arch_hash).where(a.c.arch_hash.startswith(prefix.lower())).limit(6)
            )
            .scalars()
            .all()
        )
        if len(found) == 1:
            return found[0]
        if not found:
            raise UserError(f"no architecture with hash {prefix!r} in {masked(self.url)}")
        raise UserError(
            f"hash prefix {prefix!r} is ambiguous: {', '.join(found[:5])}, ...: give more digits"
        )

    # -- SQL ------------------------------------------------------------------------------
    def sql(self, statement: str) -> pd.DataFrame:
        """Run one read-only SQL statement and return its rows.

        Writes, ATTACH, and pragmas or functions that change state are refused before
        anything runs (:class:`nas.db.SQLRefused`); the connection is read-only as well.
        """
        import pandas as pd
        from sqlalchemy.exc import DBAPIError

        statement = check_read_only(statement, self._engine.dialect.name)
        with self._connect() as conn:
            conn.rollback()  # a fresh transaction, made read-only before the statement runs
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            try:
                result = conn.exec_driver_sql(statement)
                columns = list(result.keys()) if result.returns_rows else []
                rows = [tuple(r) for r in result.all()] if result.returns_rows else []
            except DBAPIError as error:
                raise UserError(f"SQL error: {_reason(error)}") from None
            finally:
                conn.rollback()
        return pd.DataFrame.from_records(rows, columns=columns)


def delete_study(url: str, study: str) -> int:
    """Delete ``study``'s Optuna rows (trials, values, params, attributes); returns its
    trial count. The toolkit's architectures and evaluations stay: they are the cache
    that every study in the database reuses."""
    with Database(url) as db:  # checks the file, the schema version and the name first
        summary = db.studies()
        row = summary[summary["study"] == study]
        if row.empty:
            with db._connect() as conn:
                db._study_id(conn, study)
        n_trials = int(row["n_trials"].iloc[0])
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Optuna's own deletion knows its schema (heartbeats, attributes, values, ...).
    storage = optuna.storages.RDBStorage(url, skip_compatibility_check=True)
    try:
        optuna.delete_study(study_name=study, storage=storage)
    finally:
        storage.engine.dispose()
    return n_trials


def upgrade_database(url: str) -> tuple[int | None, int]:
    """Bring the database's nas tables to this toolkit's schema version, creating them if
    absent; returns (version before, version after). The only write besides
    :func:`delete_study`; a database of a newer toolkit is refused, untouched."""
    from sqlalchemy import create_engine

    open_engine(url).dispose()  # refuses a missing SQLite file (a writer would create it)
    writer = create_engine(parse_url(url))
    try:
        return schema.upgrade(writer)
    finally:
        writer.dispose()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Reading a big study makes millions of objects and no reference cycles: the cyclic
    collector would only walk them again and again (a tenth of ``trials()`` on 50k trials)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _check_goals(goals: dict[str, str]) -> dict[str, str]:
    if not goals:
        raise UserError("no objectives: name them, e.g. capability:max train_flops_per_token:min")
    for name, direction in goals.items():
        if direction not in ("maximize", "minimize"):
            raise UserError(
                f"objective {name!r}: direction must be maximize or minimize, not {direction!r}"
            )
    return goals


def _front_mask(frame: pd.DataFrame, goals: Mapping[str, str]) -> Any:
    points = frame[list(goals)].to_numpy(dtype=float, copy=True)
    for index, direction in enumerate(goals.values()):
        if direction == "maximize":
            points[:, index] = -points[:, index]
    return non_dominated(points)


def _dominated(point: Any, others: Any) -> bool:
    if len(others) == 0:
        return False
    return bool(((others <= point).all(axis=1) & (others < point).any(axis=1)).any())


def _counted(frame: pd.DataFrame | None, folded: pd.DataFrame | None) -> pd.DataFrame | None:
    """``frame`` with the trial counts of ``folded`` (the rows it was read for), if asked."""
    if frame is not None and folded is not None and N_TRIALS in frame and N_TRIALS in folded:
        frame[N_TRIALS] = folded[N_TRIALS].reindex(frame.index).fillna(1).astype(int)
    return frame


def _in_order(
    frame: pd.DataFrame | None, selected: list[int] | None, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    import pandas as pd

    if frame is None:
        return pd.DataFrame(columns=list(columns or []))
    if selected is not None:
        frame = frame.reindex(selected)
    return frame.reset_index(drop=True)


def _series(mapping: dict[int, Any]) -> pd.Series:
    import pandas as pd

    series = pd.Series(list(mapping.values()), index=list(mapping), dtype=object)
    series.index.name = "trial_id"
    return series


def _plain(value: Any) -> Any:
    """A JSON-friendly Python value (numpy scalars, NaN and NaT become plain/None)."""
    import math

    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return None if str(value) == "NaT" else value.isoformat()
    try:
        import pandas as pd

        if value is pd.NA:
            return None
    except ImportError:  # pragma: no cover
        pass
    return value


def _reason(error: Exception) -> str:
    original = getattr(error, "orig", None) or error
    text = str(original).strip()
    return text.splitlines()[0] if text else type(original).__name__


def _unknown_study_message(study: str, names: list[str], url: str) -> str:
    if not names:
        return f"no study named {study!r}: {url} holds no studies yet"
    close = difflib.get_close_matches(study, names, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    shown = ", ".join(names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10 else "")
    return f"no study named {study!r} in {url}: {hint}studies: {shown}"
