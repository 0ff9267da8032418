"""Benchmark of nas.db on a large synthetic study; prints the figures the README quotes.

    python -m nas.db.bench                       # 50,000 trials in runs/bench/synthetic.db
    python -m nas.db.bench --trials 5000 --repeat 3

It times, as whole processes (interpreter start and imports included), ``nas db
studies``, ``nas db trials STUDY --limit 20 --sort -capability`` (one row per architecture;
and with ``--each-trial``) and ``nas db pareto STUDY``; then, in this process, ``Database.trials(study)`` (every column of every trial)
against ``optuna.load_study(...).trials_dataframe()`` on the same database, and checks
that ``Database.pareto`` and Optuna's ``best_trials`` pick the same trials.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from nas.db.synthetic import write_synthetic

STUDY = "synthetic"
CLI_TARGET_S = 1.5


def _time_cli(args: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nas", *args], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nas.db.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--db", default="runs/bench/synthetic.db", help="SQLite file (created if missing)"
    )
    parser.add_argument(
        "--trials", type=int, default=50_000, help="trials to generate when creating it"
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs of each CLI command")
    parser.add_argument(
        "--skip-optuna", action="store_true", help="skip the (slow) Optuna comparison"
    )
    args = parser.parse_args(argv)

    path = Path(args.db)
    url = f"sqlite:///{path.resolve()}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        write_synthetic(url, n_trials=args.trials, study_name=STUDY)
        print(f"generated {args.trials:,} trials in {path} ({time.perf_counter() - started:.1f} s)")

    print(f"database: {path} ({path.stat().st_size / 2**20:.0f} MiB)")
    print(f"CLI, whole process, {args.repeat} runs each (min / median; target < {CLI_TARGET_S} s):")
    commands = {
        "nas db studies": ["db", "studies", "--storage", url],
        "nas db trials --limit 20 --sort -capability": [
            "db", "trials", STUDY, "--storage", url, "--limit", "20", "--sort", "-capability",
        ],
        "  the same, --each-trial (no folding)": [
            "db", "trials", STUDY, "--storage", url, "--limit", "20", "--sort", "-capability",
            "--each-trial",
        ],
        "nas db pareto": ["db", "pareto", STUDY, "--storage", url],
        "python -c pass (interpreter alone)": None,
    }  # fmt: skip
    for label, command in commands.items():
        if command is None:
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                subprocess.run([sys.executable, "-c", "pass"], check=True)
                times.append(time.perf_counter() - started)
        else:
            times = _time_cli(command, args.repeat)
        verdict = (
            ""
            if command is None
            else ("  ok" if statistics.median(times) < CLI_TARGET_S else "  SLOW")
        )
        print(f"  {label:<46} {min(times):6.2f} s / {statistics.median(times):6.2f} s{verdict}")

    import pandas  # noqa: F401  imports are not query time: Optuna's figure below has its own done

    from nas.db import Database

    with Database(url) as db:
        runs = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            frame = db.trials(STUDY)
            runs.append(time.perf_counter() - started)
        front = db.pareto(STUDY, columns=["number"], by_architecture=False)
        architectures = len(db.pareto(STUDY, columns=["number"]))
        # What trials_dataframe holds: state, values, times, params, user attributes.
        optuna_like = [c for c in db.columns(STUDY) if c.startswith("params_")] + [
            "state", *db.objectives(STUDY), "datetime_start", "datetime_complete", "duration_s",
            "fidelity", "budget_hash", "cached", "evaluation_ids", "arch_hash", "family", "layout",
        ]  # fmt: skip
        started = time.perf_counter()
        db.trials(STUDY, columns=optuna_like)
        like = time.perf_counter() - started
        folding = _fold_cost(db, args.repeat)
    ours = statistics.median(runs)
    print(
        f"Database.trials(): {len(frame):,} rows x {frame.shape[1]} columns in {ours:.2f} s "
        f"(median of {args.repeat}; first call {runs[0]:.2f} s)"
    )
    print(f"one row per architecture, in this process (median of {args.repeat}, alternated):")
    for label, (each, folded) in folding.items():
        print(f"  {label:<44} {each:.3f} s per trial, {folded:.3f} s per architecture")
    if args.skip_optuna:
        return 0

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    study = optuna.load_study(study_name=STUDY, storage=url)
    theirs_frame = study.trials_dataframe()
    theirs = time.perf_counter() - started
    print(
        f"optuna.load_study().trials_dataframe(): {len(theirs_frame):,} rows x "
        f"{theirs_frame.shape[1]} columns in {theirs:.2f} s"
    )
    print(f"speed-up: {theirs / ours:.1f}x (target >= 20x)")
    print(f"  with the same columns as trials_dataframe: {like:.2f} s, {theirs / like:.1f}x")
    best = sorted(t.number for t in study.best_trials)
    agree = best == sorted(front["number"].tolist())
    print(
        f"Pareto front: ours {len(front)} trials ({architectures} architectures), Optuna's "
        f"best_trials {len(best)}: {'same' if agree else 'DIFFERENT'}"
    )
    return 0 if agree else 1


def _fold_cost(db: Any, repeat: int) -> dict[str, tuple[float, float]]:
    """Median seconds of two queries with and without folding repeated architectures."""
    queries = {
        "pareto": lambda fold: db.pareto(STUDY, by_architecture=fold),
        "trials --limit 20 --sort -capability": lambda fold: db.trials(
            STUDY, sort="-capability", limit=20, by_architecture=fold
        ),
    }
    cost = {}
    for label, query in queries.items():
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(repeat):
            for fold in (False, True):
                started = time.perf_counter()
                query(fold)
                times[fold].append(time.perf_counter() - started)
        cost[label] = (statistics.median(times[False]), statistics.median(times[True]))
    return cost


if __name__ == "__main__":
    sys.exit(main())
