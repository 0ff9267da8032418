"""One SELECT that returns a study's trials, one row each, with just the columns asked for.

Every column of the trials frame that lives in a table (Optuna's or the toolkit's) is a
LEFT JOIN onto ``trials``: one ``trial_values`` join per objective, one
``trial_user_attributes`` join per attribute, one ``trial_params`` join per parameter,
and ``architectures`` / ``arch_figures`` through the ``arch_hash`` attribute. Reading only
the columns a query needs, in one round trip, is what keeps ``nas db`` fast on studies
of tens of thousands of trials. Values come back raw and are decoded here, column-wise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Float, String, and_, case, cast, func, literal, select, type_coerce

from nas.db import _optuna_tables as ot
from nas.db import schema

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection
    from sqlalchemy.sql import ColumnElement

# Above this many trial ids, one query for the whole study beats a long IN list.
MAX_IN_LIST = 500
# Architecture hashes per IN list (under SQLite's oldest limit of 999 bound parameters).
_HASHES_PER_QUERY = 900

ARCH_TABLE_COLUMNS = (
    "layout", "family", "ratio", "n_layers", "n_ssm", "n_attention", "n_mlp", "d_model",
    "vocab_size", "ssm_kind", "d_state", "params", "non_embedding_params",
)  # fmt: skip
# Settings read from the canonical ArchSpec JSON: column -> (section or None, key).
SPEC_COLUMNS = {
    "expand": ("ssm", "expand"), "d_conv": ("ssm", "d_conv"), "headdim": ("ssm", "headdim"),
    "ngroups": ("ssm", "ngroups"), "dt_rank": ("ssm", "dt_rank"),
    "n_heads": ("attention", "n_heads"), "n_kv_heads": ("attention", "n_kv_heads"),
    "window": ("attention", "window"), "mlp_kind": ("mlp", "kind"), "d_ff": ("mlp", "d_ff"),
    "tie_embeddings": (None, "tie_embeddings"),
}  # fmt: skip
ARCH_COLUMNS = (
    "arch_hash", *ARCH_TABLE_COLUMNS[:3], "attention_fraction", *ARCH_TABLE_COLUMNS[3:],
    *SPEC_COLUMNS, "spec_json",
)  # fmt: skip
FIGURE_COLUMNS = (
    "train_flops_per_token", "prefill_flops", "decode_flops_per_token", "state_bytes",
    "seq_len", "context",
)  # fmt: skip
_INT_COLUMNS = frozenset({
    "number", "n_layers", "n_ssm", "n_attention", "n_mlp", "d_model", "vocab_size", "d_state",
    "params", "non_embedding_params", "expand", "d_conv", "headdim", "ngroups", "dt_rank",
    "n_heads", "n_kv_heads", "window", "d_ff", "state_bytes", "seq_len", "context",
})  # fmt: skip


@dataclass
class Request:
    """What to read: base columns, objectives (by index), attributes, params, arch, figures."""

    base: set[str] = field(default_factory=set)
    objectives: dict[str, int] = field(default_factory=dict)
    attrs: dict[str, str] = field(default_factory=dict)  # column -> user attribute key
    params: dict[str, str] = field(default_factory=dict)  # column -> parameter name
    arch: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    figure_setting: tuple[int, int] | None = None  # (seq_len, context) of the figures to show
    states: tuple[str, ...] | None = None  # only trials in these states
    order: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    limit: int | None = None

    def sortable_in_sql(self, names: Iterable[str]) -> bool:
        """Whether SQL can order by these columns as the frame would (JSON attributes
        and categorical parameters cannot: their stored form does not sort like their value)."""
        direct = {*self.base, *self.objectives, *self.arch, *self.figures} - {
            "duration_s", "attention_fraction", "arch_hash", "spec_json", *SPEC_COLUMNS,
        }  # fmt: skip
        return all(name in direct for name in names)


def read(
    conn: Connection,
    study_id: int,
    request: Request,
    trial_ids: Collection[int] | None = None,
) -> pd.DataFrame:
    """The requested columns for the study's trials (or ``trial_ids``), indexed by trial_id.

    Trial-level columns come from one query; architecture and figure columns from one
    query per table over the distinct architectures, spread onto the trials by hash. With
    ``request.order`` (and ``limit``) SQL sorts the rows, missing values last; every
    ``order`` column must be :meth:`Request.sortable_in_sql`.
    """
    import numpy as np
    import pandas as pd

    t = ot.trials
    selected: list[tuple[str, ColumnElement[Any]]] = [
        ("trial_id", t.c.trial_id),
        ("number", t.c.number),
    ]
    source: Any = t
    attr_alias: dict[str, Any] = {}

    def attr(key: str) -> Any:
        if key not in attr_alias:
            alias = ot.trial_user_attributes.alias(f"ua{len(attr_alias)}")
            attr_alias[key] = alias
            nonlocal source
            source = source.outerjoin(
                alias, and_(alias.c.trial_id == t.c.trial_id, alias.c.key == key)
            )
        return attr_alias[key]

    base = set(request.base)
    if "duration_s" in base:
        base |= {"datetime_start", "datetime_complete"}
    if "state" in base:
        selected.append(("state", t.c.state))
    for name in ("datetime_start", "datetime_complete"):
        if name in base:
            selected.append((name, sql_datetime(conn, t.c[name])))
    for name, objective in request.objectives.items():
        v = ot.trial_values.alias(f"v{objective}")
        source = source.outerjoin(v, and_(v.c.trial_id == t.c.trial_id, v.c.objective == objective))
        # Optuna keeps +-inf as a NULL value plus a type tag: turn them back into floats.
        kind = cast(v.c.value_type, String)  # an enum on PostgreSQL
        value = case(
            (kind == "INF_POS", literal(math.inf, Float)),
            (kind == "INF_NEG", literal(-math.inf, Float)),
            else_=v.c.value,
        )
        selected.append((name, value))
    for column, key in request.attrs.items():
        selected.append((column, attr(key).c.value_json))
    for index, (column, name) in enumerate(request.params.items()):
        p = ot.trial_params.alias(f"p{index}")
        source = source.outerjoin(p, and_(p.c.trial_id == t.c.trial_id, p.c.param_name == name))
        selected += [(column, p.c.param_value), (f"{column}\0dist", p.c.distribution_json)]
    arch_hash = None
    if request.arch or request.figures:
        link = attr("arch_hash").c.value_json
        arch_hash = func.substr(link, 2, func.length(link) - 2)  # the JSON string's content
        selected.append(("\0arch", arch_hash))
    by_figures = request.figures or any(name in FIGURE_COLUMNS for name, _ in request.order)
    setting = (request.figure_setting or _figure_setting(conn, study_id)) if by_figures else (0, 0)
    seq_len, context = setting

    query_columns = dict(selected)
    if request.order:
        # Architecture and figure columns are read per architecture; ordering by them
        # joins their tables into this query just for the ORDER BY.
        by_table = [name for name, _ in request.order if name not in query_columns]
        if any(name in ARCH_TABLE_COLUMNS for name in by_table):
            a = schema.architectures
            source = source.outerjoin(a, a.c.arch_hash == arch_hash)
            query_columns.update({n: a.c[n] for n in by_table if n in ARCH_TABLE_COLUMNS})
        if any(name in FIGURE_COLUMNS for name in by_table):
            f = schema.arch_figures
            source = source.outerjoin(
                f, and_(f.c.arch_hash == arch_hash, f.c.seq_len == seq_len, f.c.context == context)
            )
            query_columns.update({n: f.c[n] for n in by_table if n in FIGURE_COLUMNS})
    query = select(*(column.label(f"c{i}") for i, (_, column) in enumerate(selected)))
    query = query.select_from(source).where(t.c.study_id == study_id)
    if request.states is not None:
        # cast: on PostgreSQL the state is an enum, which does not compare with text
        query = query.where(cast(t.c.state, String).in_(request.states))
    if trial_ids is not None and len(trial_ids) <= MAX_IN_LIST:
        query = query.where(t.c.trial_id.in_(sorted(trial_ids)))
    for name, descending in request.order:
        key = query_columns[name]
        query = query.order_by(key.is_(None), key.desc() if descending else key)
    if request.order:
        query = query.order_by(t.c.number)
    if request.limit is not None:
        query = query.limit(request.limit)
    names = [name for name, _ in selected]
    rows = fetch_all(conn, query)
    if trial_ids is not None and len(trial_ids) > MAX_IN_LIST:
        wanted = set(trial_ids)
        rows = [row for row in rows if row[0] in wanted]
    # Plain tuples per column, decoded straight into the frame: an intermediate frame of
    # raw text would convert every text column to pandas strings only to parse them.
    raw = (
        dict(zip(names, zip(*rows, strict=True), strict=True)) if rows else dict.fromkeys(names, ())
    )
    index = pd.Index(np.array(raw["trial_id"], dtype=np.int64), name="trial_id")
    out = _decode(raw, request, index)
    if arch_hash is not None:
        hashes = pd.Series(np.array(raw["\0arch"], dtype=object), index=index)
        per_arch = _architectures(conn, request, hashes.dropna().unique().tolist(), setting)
        spread = per_arch.reindex(hashes.to_numpy())
        spread.index = index
        if "arch_hash" in request.arch:
            spread.insert(0, "arch_hash", hashes.astype("str"))
        out = out.join(spread)
    return _integers(out)


def study_arch_hashes(study_id: int) -> Any:
    """SELECT of the architecture hashes of a study's trials (their ``arch_hash`` attribute)."""
    a, t = ot.trial_user_attributes, ot.trials
    return (
        select(func.substr(a.c.value_json, 2, func.length(a.c.value_json) - 2))
        .join(t, t.c.trial_id == a.c.trial_id)
        .where(t.c.study_id == study_id, a.c.key == "arch_hash")
    )


def _architectures(
    conn: Connection,
    request: Request,
    hashes: Collection[str],
    setting: tuple[int, int],
) -> pd.DataFrame:
    """Architecture and figure columns per architecture hash (the frame's index)."""
    import pandas as pd

    ordered = sorted(hashes)

    def rows_of(table: Any, columns: list[str], *conditions: Any) -> pd.DataFrame:
        query = select(table.c.arch_hash, *(table.c[n] for n in columns)).where(*conditions)
        found = [
            row
            for start in range(0, len(ordered), _HASHES_PER_QUERY)
            for row in fetch_all(
                conn, query.where(table.c.arch_hash.in_(ordered[start : start + _HASHES_PER_QUERY]))
            )
        ]
        return pd.DataFrame(found, columns=["arch_hash", *columns]).set_index("arch_hash")

    out = pd.DataFrame(index=pd.Index(ordered, name="arch_hash"))
    table_columns = _arch_table_columns(request.arch)
    if table_columns:
        arch = rows_of(schema.architectures, table_columns).reindex(out.index)
        specs = None
        if "spec_json" in arch:
            texts = arch["spec_json"].astype(object)
            specs = _decode_json(texts.where(texts.notna(), None).tolist(), arch.index)
        for name in request.arch:
            if name == "attention_fraction":
                out[name] = arch["n_attention"] / arch["n_layers"]
            elif name in SPEC_COLUMNS:
                assert specs is not None
                out[name] = specs.map(lambda spec, where=SPEC_COLUMNS[name]: _setting(spec, *where))
            elif name != "arch_hash":
                out[name] = arch[name]
    if request.figures:
        f = schema.arch_figures
        figures = rows_of(f, request.figures, f.c.seq_len == setting[0], f.c.context == setting[1])
        out = out.join(figures.reindex(out.index))
    return out


def fetch_all(conn: Connection, query: Any) -> list[tuple]:
    """Run a Core query and return plain tuples straight from the DBAPI cursor.

    The columns read here need no SQLAlchemy result processing (text, numbers, and
    datetimes the driver already converts), and skipping its Row objects halves the
    time to read tens of thousands of rows.
    """
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params: Any = compiled.params
    if conn.dialect.positional:
        params = tuple(params[name] for name in compiled.positiontup or ())
    cursor = conn.connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        return cursor.fetchall()
    finally:
        cursor.close()


def sql_datetime(conn: Connection, column: Any) -> Any:
    # SQLite keeps ISO text: parsing it in pandas at once beats SQLAlchemy's per-row parser.
    return type_coerce(column, String) if conn.dialect.name == "sqlite" else column


def _arch_table_columns(names: Iterable[str]) -> list[str]:
    names = list(names)
    needs = [n for n in ARCH_TABLE_COLUMNS if n in names]
    if "attention_fraction" in names:
        needs += [n for n in ("n_attention", "n_layers") if n not in needs]
    if any(n in SPEC_COLUMNS or n == "spec_json" for n in names):
        needs.append("spec_json")
    return needs


def _figure_setting(conn: Connection, study_id: int) -> tuple[int, int]:
    """The (seq_len, context) of the figures to show: the pair most of the study's
    architectures have (studies with other lengths add rows of their own)."""
    f = schema.arch_figures
    pairs = conn.execute(select(f.c.seq_len, f.c.context).distinct().limit(2)).all()
    if len(pairs) <= 1:
        return tuple(pairs[0]) if pairs else (0, 0)  # type: ignore[return-value]
    hashes = study_arch_hashes(study_id)
    best = conn.execute(
        select(f.c.seq_len, f.c.context)
        .where(f.c.arch_hash.in_(hashes))
        .group_by(f.c.seq_len, f.c.context)
        .order_by(func.count().desc())
        .limit(1)
    ).first()
    return tuple(best) if best else tuple(pairs[0])  # type: ignore[return-value]


def _decode(raw: dict[str, tuple], request: Request, index: pd.Index) -> pd.DataFrame:
    """The trial-level columns, from the query's raw values per column."""
    import numpy as np
    import pandas as pd

    data: dict[str, Any] = {"number": np.array(raw["number"], dtype=np.int64)}
    if "state" in raw:
        data["state"] = np.array(raw["state"], dtype=object)
    for name in ("datetime_start", "datetime_complete"):
        if name in raw:
            texts = pd.Series(raw[name], dtype=object)
            data[name] = pd.to_datetime(texts, format="ISO8601").to_numpy()
    if "duration_s" in request.base:
        taken = data["datetime_complete"] - data["datetime_start"]
        data["duration_s"] = taken / np.timedelta64(1, "s")  # NaT (not finished) -> NaN
    for name in request.objectives:
        data[name] = np.array(raw[name], dtype=float)  # None (no value) becomes NaN
    for column in request.attrs:
        data[column] = _decode_json(raw[column], index)
    for column in request.params:
        data[column] = _decode_params(raw[column], raw[f"{column}\0dist"], index)
    return pd.DataFrame(data, index=index)


def _integers(frame: pd.DataFrame) -> pd.DataFrame:
    """Integer columns with gaps (no SSM: no d_state) as nullable integers, not floats."""
    for column in frame.columns:
        if column in _INT_COLUMNS and frame[column].dtype.kind in "fO":
            frame[column] = frame[column].astype("Int64")
    return frame


def _setting(spec: dict | None, section: str | None, key: str) -> Any:
    if spec is None:
        return None
    return spec.get(key) if section is None else (spec.get(section) or {}).get(key)


def _decode_json(texts: Sequence[str | None], index: pd.Index) -> pd.Series:
    """JSON text -> values; a column of plain numbers or booleans gets a numeric dtype."""
    import pandas as pd

    # One json.loads over the whole column: the C parser does the looping.
    parsed = json.loads("[" + ",".join(["null" if t is None else t for t in texts]) + "]")
    values = pd.Series(parsed, index=index, dtype=object)
    kind = pd.api.types.infer_dtype(parsed, skipna=True)  # in C, not a Python loop
    if kind == "boolean":
        return values.astype("boolean")
    if kind == "integer":
        return values.astype("Int64")
    if kind in ("floating", "mixed-integer-float"):
        return values.astype(float)
    return values


def _decode_params(
    values: Sequence[float | None], distributions: Sequence[str | None], index: pd.Index
) -> pd.Series:
    """Trial parameters as the user sees them: categorical indices become their choices."""
    import numpy as np
    import pandas as pd

    numbers = np.array(values, dtype=float)
    # Most studies give a parameter one distribution, in every trial: then no hashing.
    first = distributions[0] if len(distributions) else None
    if first is not None and distributions.count(first) == len(distributions):
        codes, uniques = np.zeros(len(numbers), dtype=np.intp), [first]
    else:
        codes, uniques = pd.factorize(np.array(distributions, dtype=object))
    out = np.full(len(numbers), None, dtype=object)
    for code, distribution_json in enumerate(uniques):
        rows = codes == code
        distribution = json.loads(distribution_json)
        kind = distribution.get("name", "")
        if kind == "CategoricalDistribution":
            choices = np.array(distribution["attributes"]["choices"], dtype=object)
            out[rows] = choices[numbers[rows].astype(int)]
        elif "Int" in kind:
            out[rows] = numbers[rows].round().astype(int)
        else:
            out[rows] = numbers[rows]
    return pd.Series(out, index=index, dtype=object).infer_objects()
