"""The nas tables as the driver uses them: architectures once, and the evaluation cache."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, func, select

from nas.arch import ArchSpec
from nas.compute import estimate
from nas.db import schema
from nas.study._cache import Evaluation, ResultStore


def run(
    arch: ArchSpec, status: str, curve_steps: list[int], seed: int = 0, task: str = "t"
) -> Evaluation:
    return Evaluation(
        arch_hash=arch.arch_hash,
        task=task,
        budget_hash="b",
        budget_json="{}",
        seed=seed,
        status=status,
        capability=0.5,
        metrics={},
        curve=[{"step": s, "capability": s / 100} for s in curve_steps],
        steps=40,
    )


def test_architectures_and_figures_are_written_once(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/c.db")
    store = ResultStore(engine)
    arch = ArchSpec.parse("MMMA", d_model=32)
    for _ in range(2):
        store.record_architecture(arch, estimate(arch, seq_len=64, context=1024))
    ResultStore(engine).record_architecture(arch, estimate(arch, seq_len=64, context=1024))
    ResultStore(engine).record_architecture(arch, estimate(arch, seq_len=128, context=1024))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.architectures)).scalar() == 1
        assert conn.execute(select(func.count()).select_from(schema.arch_figures)).scalar() == 2
        row = conn.execute(select(schema.architectures)).mappings().one()
    assert (row["layout"], row["family"], row["ratio"], row["d_state"]) == (
        "MMMA",
        "hybrid",
        "3:1",
        16,
    )


def test_lookup_prefers_ok_then_the_furthest_stopped_run(tmp_path: Path) -> None:
    store = ResultStore(create_engine(f"sqlite:///{tmp_path}/c.db"))
    arch = ArchSpec.parse("MMMA", d_model=32)
    store.record_architecture(arch, estimate(arch, seq_len=64, context=1024))
    store.insert(run(arch, "stopped", [10]), "s", 0)
    store.insert(run(arch, "stopped", [10, 20]), "s", 1)
    store.insert(run(arch, "failed", [10, 20, 40]), "s", 2)  # never served
    found = store.lookup(arch.arch_hash, "t", "b", [0, 1])
    assert set(found) == {0} and found[0].status == "stopped" and len(found[0].curve) == 2
    assert found[0].capability_at(0.5) == 0.2 and found[0].capability_at(1.0) is None
    ok = store.insert(run(arch, "ok", [10, 20, 40]), "s", 3)
    store.insert(run(arch, "stopped", [10]), "s", 4)
    found = store.lookup(arch.arch_hash, "t", "b", [0])
    assert found[0].status == "ok" and found[0].evaluation_id == ok
    assert store.lookup(arch.arch_hash, "other task", "b", [0]) == {}
    assert store.lookup(arch.arch_hash, "t", "other budget", [0]) == {}
