"""The driver's reads and writes of the nas tables: architectures, figures, evaluations.

An evaluation is cached under (architecture hash, task, budget hash, seed): a row with
status ``ok`` is reused by any later study in the database instead of retraining, and a
``stopped`` row serves the fidelity levels its learning curve reached.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from nas.db import schema
from nas.db._fidelity import capability_at

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from nas.arch import ArchSpec
    from nas.compute import ComputeFigures


@dataclass
class Evaluation:
    """One training run of an architecture on one task and seed, as the driver records it.

    ``steps`` is the run's full length (the curve's steps are out of it).
    """

    arch_hash: str
    task: str
    budget_hash: str
    budget_json: str
    seed: int
    status: str
    capability: float | None
    metrics: dict[str, Any]
    curve: list[dict[str, Any]]
    steps: int
    error: str | None = None
    clean: dict[str, Any] | None = None
    wall_s: float | None = None
    tokens_per_s: float | None = None
    peak_memory_bytes: int | None = None
    memory_kind: str | None = None
    device: str | None = None
    backend: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    fidelity: int | None = None
    evaluation_id: int | None = None

    def capability_at(self, fraction: float) -> float | None:
        """Capability measured after ``fraction`` of the steps, or None if not reached."""
        return capability_at(self.curve, self.steps, fraction)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class ResultStore:
    """The nas tables of one database, written by one driver.

    Example:
        >>> from sqlalchemy import create_engine
        >>> from nas.arch import ArchSpec
        >>> from nas.compute import estimate
        >>> store = ResultStore(create_engine("sqlite://"))
        >>> arch = ArchSpec.parse("MMMA", d_model=32)
        >>> store.record_architecture(arch, estimate(arch, seq_len=64, context=1024))
        >>> store.lookup(arch.arch_hash, "mqar", "b0", [0])
        {}
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        schema.ensure(engine)
        self._known: set[tuple[str, int, int]] = set()

    def record_architecture(self, arch: ArchSpec, figures: ComputeFigures) -> None:
        """Insert the architecture and its figures at (seq_len, context) if absent."""
        key = (arch.arch_hash, figures.seq_len, figures.context)
        if key in self._known:
            return
        row = {
            "arch_hash": arch.arch_hash,
            "seq_len": figures.seq_len,
            "context": figures.context,
            "train_flops_per_token": figures.train_flops_per_token,
            "prefill_flops": figures.prefill_flops,
            "decode_flops_per_token": figures.decode_flops_per_token,
            "state_bytes": figures.state_bytes,
        }
        with self.engine.begin() as conn:
            conn.execute(_insert_new(conn, schema.architectures, _architecture_row(arch, figures)))
            conn.execute(_insert_new(conn, schema.arch_figures, row))
        self._known.add(key)

    def lookup(
        self, arch_hash: str, task: str, budget_hash: str, seeds: list[int]
    ) -> dict[int, Evaluation]:
        """The best cached run per seed: the newest ``ok`` one, else the ``stopped`` one
        that got furthest."""
        e = schema.evaluations
        query = (
            select(e)
            .where(
                e.c.arch_hash == arch_hash,
                e.c.task == task,
                e.c.budget_hash == budget_hash,
                e.c.seed.in_(seeds),
                e.c.status.in_(("ok", "stopped")),
            )
            .order_by(e.c.evaluation_id.desc())
        )
        best: dict[int, Evaluation] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                found = _from_row(row)
                held = best.get(found.seed)
                if held is None or (
                    held.status == "stopped"
                    and (found.status == "ok" or len(found.curve) > len(held.curve))
                ):
                    best[found.seed] = found
        return best

    def insert(self, evaluation: Evaluation, study_name: str, trial_number: int) -> int:
        """Write one run; returns its ``evaluation_id``."""
        row = {
            "arch_hash": evaluation.arch_hash,
            "task": evaluation.task,
            "budget_hash": evaluation.budget_hash,
            "budget_json": evaluation.budget_json,
            "seed": evaluation.seed,
            "fidelity": evaluation.fidelity,
            "status": evaluation.status,
            "error": evaluation.error,
            "capability": evaluation.capability,
            "metrics_json": json.dumps({**evaluation.metrics, "steps": evaluation.steps}),
            "curve_json": json.dumps(evaluation.curve),
            "clean_json": None if evaluation.clean is None else json.dumps(evaluation.clean),
            "wall_s": evaluation.wall_s,
            "tokens_per_s": evaluation.tokens_per_s,
            "peak_memory_bytes": evaluation.peak_memory_bytes,
            "memory_kind": evaluation.memory_kind,
            "device": evaluation.device,
            "backend": evaluation.backend,
            "versions_json": json.dumps(evaluation.versions),
            "study_name": study_name,
            "trial_number": trial_number,
            "created_at": _now(),
        }
        with self.engine.begin() as conn:
            result = conn.execute(insert(schema.evaluations).values(**row))
            evaluation.evaluation_id = int(result.inserted_primary_key[0])
        return evaluation.evaluation_id


def _architecture_row(arch: ArchSpec, figures: ComputeFigures) -> dict[str, Any]:
    return {
        "arch_hash": arch.arch_hash,
        "spec_json": arch.to_json(),
        "layout": arch.layout,
        "family": arch.family,
        "ratio": arch.ratio,
        "n_layers": arch.n_layers,
        "n_ssm": arch.n_ssm,
        "n_attention": arch.n_attention,
        "n_mlp": arch.n_mlp,
        "d_model": arch.d_model,
        "vocab_size": arch.vocab_size,
        "ssm_kind": arch.ssm.kind if arch.ssm else None,
        "d_state": arch.ssm.d_state if arch.ssm else None,
        "params": figures.params,
        "non_embedding_params": figures.non_embedding_params,
        "created_at": _now(),
    }


def _insert_new(conn: Any, table: Any, row: dict[str, Any]) -> Any:
    """INSERT that keeps the row already there (another study, or another driver, may have
    written the same architecture)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table).values(**row).on_conflict_do_nothing()


def _from_row(row: Any) -> Evaluation:
    metrics = json.loads(row["metrics_json"])
    return Evaluation(
        arch_hash=row["arch_hash"],
        task=row["task"],
        budget_hash=row["budget_hash"],
        budget_json=row["budget_json"],
        seed=row["seed"],
        status=row["status"],
        capability=row["capability"],
        metrics=metrics,
        curve=json.loads(row["curve_json"]),
        steps=int(metrics.get("steps", 0)),
        error=row["error"],
        clean=None if row["clean_json"] is None else json.loads(row["clean_json"]),
        wall_s=row["wall_s"],
        tokens_per_s=row["tokens_per_s"],
        peak_memory_bytes=row["peak_memory_bytes"],
        memory_kind=row["memory_kind"],
        device=row["device"],
        backend=row["backend"],
        versions=json.loads(row["versions_json"] or "{}"),
        fidelity=row["fidelity"],
        evaluation_id=row["evaluation_id"],
    )
