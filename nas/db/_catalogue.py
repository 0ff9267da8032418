"""The columns of a study's trials frame: which exist, in what order, and where each is read."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nas.db import _nas_frames as nas_frames
from nas.db import _optuna_frames as frames
from nas.db import _trial_query as tq
from nas.db import schema
from nas.db._fold import N_TRIALS
from nas.db._where import Where
from nas.errors import UserError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

BASE_COLUMNS = ("number", "state", "datetime_start", "datetime_complete", "duration_s")
# User attributes the study driver writes (nas.db.schema); arch_hash, family and layout
# are shown from the architectures table instead.
DRIVER_ATTRS = (
    "fidelity",
    "budget_hash",
    "cached",
    "capability",
    "duplicate_of",
    "fail_reason",
    "evaluation_ids",
)
_SHOWN_ELSEWHERE = frozenset({"arch_hash", "family", "layout"})


class Catalogue:
    """The columns of one study's trials frame and the query that provides each.

    The columns known up front (Optuna's, the toolkit's, the driver's attributes) cost a
    few small queries; parameters and other user attributes need a scan of the study's
    rows, done only when a name is not found otherwise or every column is asked for.
    """

    def __init__(self, conn: Connection, study_id: int, objectives: dict[str, str]) -> None:
        self._conn, self._study_id = conn, study_id
        self.objectives = objectives
        self.nas_tables = schema.read_version(conn) is not None
        config = (
            frames.study_user_attr(conn, study_id, schema.CONFIG_ATTR) if self.nas_tables else None
        )
        config = config if isinstance(config, dict) else {}
        tasks = list(config.get("tasks") or [])
        if self.nas_tables and not tasks:  # a study written by other means: ask its evaluations
            tasks = nas_frames.study_tasks(conn, study_id)
        compute = config.get("compute") or {}
        self.figure_setting = (compute.get("seq_len"), compute.get("context")) if compute else None
        self.task_labels = nas_frames.task_labels(tasks)
        source: dict[str, str] = {"number": "base", "state": "base"}
        source.update({name: "values" for name in objectives})
        if self.nas_tables:
            source.update({n: "arch" for n in tq.ARCH_COLUMNS if n not in source})
            source.update({n: "figures" for n in tq.FIGURE_COLUMNS if n not in source})
            for task, label in self.task_labels.items():
                source[nas_frames.CAPABILITY_PREFIX + label] = "evals"
                if nas_frames.has_filler(task):
                    source[nas_frames.GAP_PREFIX + label] = "evals"
            source.update({n: "evals" for n in nas_frames.EVAL_COLUMNS if n not in source})
            source[N_TRIALS] = "fold"  # computed by folding, not read
        self._attrs: dict[str, str] = {}
        if self.nas_tables:
            for key in DRIVER_ATTRS:
                self._add_attr(source, key)
        self._source = source
        self._scanned = False

    def _add_attr(self, source: dict[str, str], key: str) -> None:
        if self.nas_tables and key in _SHOWN_ELSEWHERE:
            return
        column = key if key not in source and key not in BASE_COLUMNS else f"user_attrs_{key}"
        if self._attrs.get(column) == key or (key in source and source[key] == "values"):
            return  # an objective already shows it (e.g. capability)
        source[column] = "attrs"
        self._attrs[column] = key

    def _scan(self) -> None:
        """Add the parameters and the other user attributes that the study's trials have."""
        if self._scanned:
            return
        self._scanned = True
        param_names, attr_keys = frames.distinct_names(self._conn, self._study_id)
        for key in attr_keys:
            if key not in self._attrs.values():
                self._add_attr(self._source, key)
        self._params = {f"params_{name}": name for name in param_names}

    def summary(self) -> list[str]:
        shown = ["number", N_TRIALS, "state", *self.objectives, "family", "ratio", "n_layers", "d_model",
                 "d_state", "params", "train_flops_per_token", "state_bytes"]  # fmt: skip
        shown += [n for n in self._source if n.startswith(nas_frames.CAPABILITY_PREFIX)]
        shown += ["fidelity"]
        return [n for n in dict.fromkeys(shown) if n in self._source or n in BASE_COLUMNS]

    def names(self) -> list[str]:
        self._scan()
        order = {"base": 0, "fold": 0, "values": 1, "arch": 2, "figures": 3, "evals": 4, "attrs": 5}
        ranked = sorted(self._source, key=lambda n: order[self._source[n]])
        return [*ranked, *BASE_COLUMNS[2:], *self._params]

    def _find(self, name: str) -> str | None:
        if name in self._source:
            return self._source[name]
        if name in BASE_COLUMNS:
            return "base"
        self._scan()
        if name in self._params:
            return "params"
        return self._source.get(name)

    def check(self, name: str, what: str = "column") -> None:
        if self._find(name) is None:
            raise UserError(
                f"unknown {what} {name!r}{self._hint(name)} (`nas db columns STUDY` lists them)"
            )

    def check_where(self, condition: Where) -> None:
        if any(self._find(name) is None for name in condition.columns):
            condition.check_columns(self.names())

    def _hint(self, name: str) -> str:
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.6)
        return f"; did you mean {' or '.join(close)}?" if close else ""

    def select(self, columns: Sequence[str] | None, also: Sequence[str] = ()) -> list[str]:
        """The columns to return: every one for None, else ``number`` + ``columns`` (+ ``also``)."""
        if columns is None:
            names = self.names()
            return [*names, *(n for n in also if n not in names)]
        for name in [*columns, *also]:
            self.check(name)
        return list(dict.fromkeys(["number", *columns, *also]))

    def request(self, names: Sequence[str]) -> tuple[tq.Request, list[str]]:
        """The table request for ``names`` and the names computed from evaluations."""
        request, evals = tq.Request(figure_setting=self.figure_setting), []
        for name in names:
            kind = self._find(name)
            if kind is None:
                self.check(name)
            if kind == "base":
                request.base.add(name)
            elif kind == "values":
                request.objectives[name] = list(self.objectives).index(name)
            elif kind == "attrs":
                request.attrs[name] = self._attrs[name]
            elif kind == "params":
                request.params[name] = self._params[name]
            elif kind == "arch":
                request.arch.append(name)
            elif kind == "figures":
                request.figures.append(name)
            elif kind == "fold":
                continue
            else:
                evals.append(name)
        return request, evals
