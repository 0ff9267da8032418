"""A synthetic study database with realistic rows, for benchmarks and tests.

    python -m nas.db.synthetic runs/synthetic.db --trials 50000

It writes what ``nas run`` writes, without training: Optuna's tables (created by
Optuna itself, rows bulk-inserted through Optuna's own table definitions) and the
toolkit's tables (:mod:`nas.db.schema`). Architectures come from a ratio x d_state x
width x depth space and get their real :mod:`nas.compute` figures; capabilities come
from a made-up but plausible model: attention solves recall, SSM recall grows with
d_state, filler tokens hurt SSMs more, language modelling grows with size, and every
score grows with the fidelity level. Trials revisit architectures, so the evaluation
cache is exercised (``cached`` trials reuse earlier evaluation rows).

Example:
    >>> from nas.db.synthetic import write_synthetic                # doctest: +SKIP
    >>> write_synthetic("sqlite:///synthetic.db", n_trials=300)     # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from nas.arch import ArchSpec, AttentionSpec, LayoutError, MLPSpec, SSMSpec, layout_from_ratio
from nas.compute import estimate
from nas.db import schema

# Canonical specs as nas.tasks writes them (kept literal: importing nas.tasks loads torch).
TASKS = {
    "mqar:filler=0,gap_power=1.0,num_kv_pairs=8,seq_len=64,vocab_size=64": 1.0,
    "mqar:filler=2,gap_power=1.0,num_kv_pairs=8,seq_len=64,vocab_size=64": 0.5,
    "byte_lm:eval_fraction=0.1,filler=0,path=tinyshakespeare,seq_len=128": 1.0,
}
FIDELITY_STEPS = (250, 500, 1000)  # steps per fidelity level; successive halving keeps 1/2
EVAL_FRACTIONS = (0.25, 0.5, 1.0)
SEQ_LEN, CONTEXT = 128, 8192
OBJECTIVES = {"capability": "maximize", "train_flops_per_token": "minimize"}

_RATIOS = ("1:0", "7:1", "3:1", "1:1", "1:3", "0:1")
_N_LAYERS = (4, 8, 12, 16)
_D_MODELS = (32, 64, 128, 256)
_D_STATES = (4, 8, 16, 32, 64, 128)
_KINDS = ("mamba1", "mamba2")
_VOCAB = 256


@dataclass
class _Arch:
    spec: ArchSpec
    params: dict[str, object]  # the trial parameters a search space would have suggested
    figures: dict[str, float]


def _arch_pool(rng: np.random.Generator, size: int) -> list[_Arch]:
    pool: dict[str, _Arch] = {}
    attempts = 0
    while len(pool) < size and attempts < size * 20:
        attempts += 1
        ratio = str(rng.choice(_RATIOS))
        n_layers, d_model = int(rng.choice(_N_LAYERS)), int(rng.choice(_D_MODELS))
        d_state, kind = int(rng.choice(_D_STATES)), str(rng.choice(_KINDS))
        mlp = bool(rng.random() < 0.5)
        try:
            layout = layout_from_ratio(n_layers, ratio, "interleave", mlp)
        except LayoutError:  # e.g. 7:1 on 4 layers: a search space's constraint rejects it
            continue
        spec = ArchSpec(
            layout=layout,
            d_model=d_model,
            vocab_size=_VOCAB,
            ssm=SSMSpec(kind=kind, d_state=d_state, headdim=16),  # type: ignore[arg-type]
            attention=AttentionSpec(n_heads=4, n_kv_heads=4),
            mlp=MLPSpec(d_ff=2 * d_model),
        )
        if spec.arch_hash in pool:
            continue
        params: dict[str, object] = {
            "layout.n_layers": n_layers, "layout.ratio": ratio, "layout.mlp": mlp,
            "d_model": d_model,
        }  # fmt: skip
        if spec.ssm is not None:
            params.update({"ssm.kind": kind, "ssm.d_state": d_state})
        figures = estimate(spec, seq_len=SEQ_LEN, context=CONTEXT).to_dict()
        pool[spec.arch_hash] = _Arch(spec, params, figures)
    return list(pool.values())


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _capabilities(
    arch: _Arch, fidelity: int, seed: int, rng: np.random.Generator
) -> dict[str, float]:
    spec = arch.spec
    size = math.log10(arch.figures["params"])
    has_attn, has_ssm = spec.n_attention > 0, spec.n_ssm > 0
    ssm_share = 1.0 - spec.attention_fraction
    d_state = spec.ssm.d_state if spec.ssm is not None else 0
    progress = 0.7 * fidelity
    recall = (
        -3.0 + 3.5 * has_attn + 0.55 * math.log2(d_state + 1) * has_ssm * ssm_share
        + 1.3 * (size - 5.0) + progress + rng.normal(0, 0.35)
    )  # fmt: skip
    filler = recall - 1.6 * ssm_share * has_ssm - 0.3 + rng.normal(0, 0.25)
    # Pure SSMs model bytes best for their cost; pure attention recalls best for its cost.
    lm = -0.8 + 1.4 * (size - 5.0) + 0.9 * ssm_share**3 + 0.5 * progress + rng.normal(0, 0.2)
    recall += 0.8 * (spec.family == "attention")
    mqar, mqar_filler, byte_lm = TASKS
    return {mqar: _sigmoid(recall), mqar_filler: _sigmoid(filler), byte_lm: _sigmoid(lm)}


def _curve(final: float, steps: int, rng: np.random.Generator) -> list[dict[str, float]]:
    points = []
    for fraction in EVAL_FRACTIONS:
        step = max(1, round(steps * fraction))
        capability = final * (1.0 - math.exp(-3.0 * fraction)) / (1.0 - math.exp(-3.0))
        points.append({
            "step": step, "tokens": step * 16 * SEQ_LEN, "fraction": fraction,
            "loss": round(4.0 * (1.0 - 0.8 * capability) + rng.normal(0, 0.02), 4),
            "capability": round(min(1.0, max(0.0, capability)), 4),
        })  # fmt: skip
    return points


def write_synthetic(
    url: str,
    n_trials: int = 50_000,
    study_name: str = "synthetic",
    seed: int = 0,
    n_archs: int | None = None,
) -> None:
    """Write a study of ``n_trials`` synthetic trials into a new database at ``url``.

    The database must not hold a study of that name yet. ``n_archs`` distinct
    architectures are drawn (default: a third of the trials, at most 6,000).
    """
    import optuna
    from optuna.storages._rdb import models  # Optuna's own tables: exact types on every backend
    from sqlalchemy import insert, select

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(seed)
    storage = optuna.storages.RDBStorage(url)
    study_id = storage.create_new_study(
        [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE], study_name
    )
    storage.set_study_system_attr(study_id, "study:metric_names", list(OBJECTIVES))
    storage.set_study_user_attr(study_id, schema.CONFIG_ATTR, {  # what the study driver records
        "name": study_name, "tasks": TASKS, "objectives": OBJECTIVES,
        "fidelity": {"levels": [s / FIDELITY_STEPS[-1] for s in FIDELITY_STEPS], "eta": 2.0},
        "compute": {"seq_len": SEQ_LEN, "context": CONTEXT}, "seeds": [0, 1],
    })  # fmt: skip
    engine = storage.engine
    schema.ensure(engine)

    pool = _arch_pool(rng, n_archs or min(6000, max(10, n_trials // 3)))
    weights = rng.dirichlet(np.full(len(pool), 0.3))  # samplers revisit good architectures
    budgets = [
        json.dumps({"steps": steps, "batch_size": 16, "lr": 0.003}, sort_keys=True)
        for steps in FIDELITY_STEPS
    ]
    budget_hashes = [schema.budget_hash(key) for key in budgets]
    with engine.connect() as conn:
        known_archs = set(conn.execute(select(schema.architectures.c.arch_hash)).scalars())
        first_trial_id = (
            conn.exec_driver_sql("SELECT COALESCE(MAX(trial_id), 0) FROM trials").scalar() or 0
        ) + 1
        first_eval_id = (
            conn.exec_driver_sql("SELECT COALESCE(MAX(evaluation_id), 0) FROM evaluations").scalar()
            or 0
        ) + 1

    now = datetime(2026, 11, 1, 9, 0, 0)
    rows: dict[str, list[dict]] = {
        name: [] for name in ("trials", "values", "params", "attrs", "evals")
    }
    cache: dict[tuple[str, int, int], tuple[list[int], dict[str, float]]] = {}
    written_archs: set[str] = set()
    next_eval = first_eval_id
    clock = now
    for number in range(n_trials):
        trial_id = first_trial_id + number
        arch = pool[int(rng.choice(len(pool), p=weights))]
        fidelity = int(rng.choice(3, p=[0.55, 0.28, 0.17]))
        n_seeds = 2 if rng.random() < 0.1 else 1
        roll = rng.random()
        state = (
            "COMPLETE"
            if roll < 0.88
            else "PRUNED"
            if roll < 0.94
            else "FAIL"
            if roll < 0.995
            else "RUNNING"
        )
        written_archs.add(arch.spec.arch_hash)
        evaluation_ids: list[int] = []
        caps: dict[str, list[float]] = {task: [] for task in TASKS}
        cached = True
        wall = 0.0
        for seed_ in range(n_seeds):
            key = (arch.spec.arch_hash, fidelity, seed_)
            if key in cache:
                ids, capabilities = cache[key]
                evaluation_ids += ids
                for task, capability in capabilities.items():
                    caps[task].append(capability)
                continue
            cached = False
            capabilities = _capabilities(arch, fidelity, seed_, rng)
            ideal_wall = float(
                arch.figures["train_flops_per_token"]
                * FIDELITY_STEPS[fidelity]
                * 16
                * SEQ_LEN
                / 5e10
            )
            ids = []
            for task, capability in capabilities.items():
                # The driver trains each task in its own evaluate call.
                call_wall = ideal_wall * float(rng.uniform(0.8, 1.3))
                wall += call_wall
                failed = state == "FAIL"
                metrics: dict[str, float] = {
                    "accuracy": round(capability, 4),
                    "steps": FIDELITY_STEPS[fidelity],
                }
                clean = None
                if "filler=2" in task:
                    clean_capability = capabilities[next(iter(TASKS))]
                    metrics.update(
                        clean_capability=clean_capability, filler_gap=clean_capability - capability
                    )
                    clean = {
                        "task": task.replace("filler=2", "filler=0"),
                        "capability": clean_capability,
                    }
                rows["evals"].append({
                    "evaluation_id": next_eval, "arch_hash": arch.spec.arch_hash, "task": task,
                    "budget_hash": budget_hashes[fidelity], "budget_json": budgets[fidelity],
                    "seed": seed_, "fidelity": fidelity,
                    "status": "diverged" if failed else "ok",
                    "error": "loss became nan at step 37" if failed else None,
                    "capability": 0.0 if failed else capability,
                    "metrics_json": json.dumps(metrics),
                    "curve_json": json.dumps(_curve(capability, FIDELITY_STEPS[fidelity], rng)),
                    "clean_json": json.dumps(clean) if clean else None,
                    "wall_s": call_wall, "tokens_per_s": 16 * SEQ_LEN * FIDELITY_STEPS[fidelity] / call_wall,
                    "peak_memory_bytes": int(2e8 + 40 * arch.figures["params"]),
                    "memory_kind": "rss", "device": "cpu", "backend": "torch",
                    "versions_json": json.dumps({"torch": "2.13.0", "nas": "0.1.0"}),
                    "study_name": study_name, "trial_number": number,
                    "created_at": clock,
                })  # fmt: skip
                ids.append(next_eval)
                caps[task].append(capability)
                next_eval += 1
            cache[key] = (ids, capabilities)
            evaluation_ids += ids
        start = clock
        clock += timedelta(seconds=float(rng.exponential(6.0)))
        complete = None if state == "RUNNING" else start + timedelta(seconds=5 + wall)
        rows["trials"].append({
            "trial_id": trial_id, "number": number, "study_id": study_id, "state": state,
            "datetime_start": start, "datetime_complete": complete,
        })  # fmt: skip
        mean_caps = {t: sum(c) / len(c) for t, c in caps.items()}
        capability = sum(TASKS[t] * mean_caps[t] for t in TASKS) / sum(TASKS.values())
        if state == "COMPLETE":
            for objective, value in enumerate((capability, arch.figures["train_flops_per_token"])):
                rows["values"].append({
                    "trial_id": trial_id, "objective": objective, "value": float(value), "value_type": "FINITE",
                })  # fmt: skip
        for name, value in arch.params.items():
            rows["params"].append(_param_row(trial_id, name, value))
        attrs = {
            "arch_hash": arch.spec.arch_hash, "evaluation_ids": evaluation_ids, "fidelity": fidelity,
            "budget_hash": budget_hashes[fidelity], "family": arch.spec.family,
            "layout": arch.spec.layout, "capability": capability, "cached": cached,
        }  # fmt: skip
        if state in ("FAIL", "PRUNED"):
            attrs["fail_reason"] = (
                "diverged: loss became nan at step 37"
                if state == "FAIL"
                else "not promoted past fidelity 0"
            )
        for key, value in attrs.items():
            rows["attrs"].append(
                {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
            )

    architecture_rows, figure_rows = [], []
    for arch in pool:
        if arch.spec.arch_hash not in written_archs or arch.spec.arch_hash in known_archs:
            continue
        spec, figures = arch.spec, arch.figures
        architecture_rows.append({
            "arch_hash": spec.arch_hash, "spec_json": spec.to_json(), "layout": spec.layout,
            "family": spec.family, "ratio": spec.ratio, "n_layers": spec.n_layers, "n_ssm": spec.n_ssm,
            "n_attention": spec.n_attention, "n_mlp": spec.n_mlp, "d_model": spec.d_model,
            "vocab_size": spec.vocab_size, "ssm_kind": spec.ssm.kind if spec.ssm else None,
            "d_state": spec.ssm.d_state if spec.ssm else None, "params": figures["params"],
            "non_embedding_params": figures["non_embedding_params"], "created_at": now,
        })  # fmt: skip
        figure_rows.append({"arch_hash": spec.arch_hash, **{k: figures[k] for k in (
            "seq_len", "context", "train_flops_per_token", "prefill_flops", "decode_flops_per_token", "state_bytes",
        )}})  # fmt: skip

    with engine.begin() as conn:
        conn.execute(insert(models.TrialModel.__table__), rows["trials"])
        for table, key in (
            (models.TrialValueModel.__table__, "values"),
            (models.TrialParamModel.__table__, "params"),
            (models.TrialUserAttributeModel.__table__, "attrs"),
            (schema.evaluations, "evals"),
        ):
            if key == "evals":
                conn.execute(insert(schema.architectures), architecture_rows)
                conn.execute(insert(schema.arch_figures), figure_rows)
            for start in range(0, len(rows[key]), 20_000):
                conn.execute(insert(table), rows[key][start : start + 20_000])
    engine.dispose()


_CHOICES = {
    "layout.n_layers": list(_N_LAYERS), "layout.ratio": list(_RATIOS), "layout.mlp": [False, True],
    "d_model": list(_D_MODELS), "ssm.kind": list(_KINDS), "ssm.d_state": list(_D_STATES),
}  # fmt: skip


def _param_row(trial_id: int, name: str, value: object) -> dict:
    """A categorical trial parameter as Optuna stores it: the index of the choice."""
    choices = _CHOICES[name]
    distribution = {"name": "CategoricalDistribution", "attributes": {"choices": choices}}
    return {
        "trial_id": trial_id, "param_name": name, "param_value": float(choices.index(value)),
        "distribution_json": json.dumps(distribution),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nas.db.synthetic", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("out", help="SQLite file (or a database URL) to write")
    parser.add_argument("--trials", type=int, default=50_000)
    parser.add_argument("--study", default="synthetic")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="replace an existing SQLite file")
    args = parser.parse_args(argv)
    url = args.out if "://" in args.out else f"sqlite:///{Path(args.out).resolve()}"
    path = None if "://" in args.out else Path(args.out)
    if path is not None and path.exists():
        if not args.force:
            print(f"{path} exists: pass --force to replace it", file=sys.stderr)
            return 2
        path.unlink()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    write_synthetic(url, n_trials=args.trials, study_name=args.study, seed=args.seed)
    print(
        f"wrote {args.trials} trials of study {args.study!r} to {url} in {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
