"""Studies end to end on a real Ray cluster: SQLite and PostgreSQL, the cache, multi-fidelity,
worker deaths, exceptions and divergence, a killed driver, Ctrl-C and two drivers at once.

Most runs use zero-cost evaluators (tests/study/study_evaluators.py); one trains for real.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from rich.console import Console
from sqlalchemy import create_engine, func, select, text

from nas.db import schema
from nas.study import Display, load_study, run_study
from nas.study._runner import is_infeasible as infeasible
from nas.study._storage import create_or_load, open_storage

pytestmark = [pytest.mark.ray, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
QUICK_SPACE = str(REPO / "search_spaces" / "quickstart.yaml")
CONTINUOUS_SPACE = str(REPO / "search_spaces" / "state_size.yaml")
MQAR = "mqar:num_kv_pairs=4,seq_len=32,vocab_size=32"
BYTES = "byte_lm:seq_len=16"
TWO_ARCHS = {"layout": {"ratio": ["1:0", "0:1"]}, "ssm": {"d_state": 4}}


def write_study(tmp_path: Path, storage: str, **changes: Any) -> Path:
    study: dict[str, Any] = {
        "name": "s",
        "space": QUICK_SPACE,
        "tasks": [MQAR],
        "budget": {"steps": 8, "batch_size": 2},
        "objectives": {"capability": "maximize", "state_bytes": "minimize"},
        "sampler": "grid",
        "execution": {
            "workers": 2,
            "heartbeat_interval": 1,
            "evaluator": "study_evaluators:counting",
        },
        "storage": storage,
    }
    for key, value in changes.items():
        if key == "execution":
            study[key] = {**study[key], **value}
        else:
            study[key] = value
    path = tmp_path / f"{study['name']}.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


RUN_LIMIT_S = 240  # a driver that waits forever fails its test's checks, not pytest's timeout


def run(path: Path, display: Display | None = None, **overrides: Any) -> Any:
    config = load_study(path).with_overrides(**overrides)
    if config.timeout is None:
        config = config.with_overrides(timeout=RUN_LIMIT_S)
    return run_study(config, display=display or Display("quiet"))


def trained(markers: Path) -> int:
    return sum(1 for p in markers.iterdir() if p.name.startswith("trained-"))


def trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


def rows(url: str, query: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(query)))
    finally:
        engine.dispose()


def states(found: list[optuna.trial.FrozenTrial]) -> Counter[str]:
    return Counter(t.state.name for t in found)


# -- the main path ------------------------------------------------------------------------


def test_grid_study_on_sqlite_with_cache(ray_cluster: str, markers: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/study.db"
    baselines = ["AFAFAFAF", "MFMFMFMF", "MFMFMFAF"]
    path = write_study(tmp_path, url, name="grid", tasks=[MQAR, BYTES], baselines=baselines)
    result = run(path)

    # 12 grid points and 3 baselines: 15 trials of 10 distinct architectures, each trained once per task
    found = trials(url, "grid")
    assert states(found) == {"COMPLETE": 15} and result.counts.complete == 15
    assert trained(markers) == 10 * 2 == result.counts.trained
    assert [t.user_attrs["layout"] for t in found[:3]] == baselines  # enqueued first
    duplicates = [t for t in found if "duplicate_of" in t.user_attrs]
    assert len(duplicates) == 5
    for trial in found:
        assert set(trial.user_attrs) >= {
            "arch_hash",
            "evaluation_ids",
            "fidelity",
            "budget_hash",
            "family",
        }
        assert len(trial.user_attrs["evaluation_ids"]) == 2 and trial.user_attrs["fidelity"] == 0
    assert rows(url, "SELECT COUNT(*) FROM evaluations")[0][0] == 20
    assert rows(url, "SELECT COUNT(*) FROM architectures")[0][0] == 10
    assert rows(url, "SELECT version FROM nas_schema_version")[0][0] == schema.SCHEMA_VERSION
    evaluation = rows(
        url, "SELECT task, seed, status, curve_json, device FROM evaluations LIMIT 1"
    )[0]
    assert (
        evaluation.status == "ok"
        and evaluation.device == "cpu"
        and json.loads(evaluation.curve_json)
    )
    # Optuna's own view agrees with the run's Pareto front; the families the synthetic
    # capability favours at each state size are on it
    study = optuna.load_study(study_name="grid", storage=url)
    assert {t.number for t in study.best_trials} == {t.number for t in result.best_trials}
    assert {t.user_attrs["family"] for t in study.best_trials} == {"ssm", "hybrid"}

    # rerunning a finished grid adds nothing
    again = run(path)
    assert again.counts.complete == 0 and len(trials(url, "grid")) == 15 and trained(markers) == 20

    # another study in the same database reuses every evaluation ...
    other = write_study(
        tmp_path, url, name="other", tasks=[MQAR, BYTES], sampler={"name": "grid", "seed": 3}
    )
    cached = run(other)
    assert cached.counts.trained == 0 and cached.counts.cached == 20 and trained(markers) == 20
    assert all(
        t.user_attrs["cached"] for t in trials(url, "other") if "duplicate_of" not in t.user_attrs
    )
    # ... unless told not to
    fresh = write_study(tmp_path, url, name="fresh", tasks=[MQAR, BYTES])
    assert run(fresh, cache=False).counts.trained == 20 and trained(markers) == 40


def test_real_evaluator(ray_cluster: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/real.db"
    path = write_study(
        tmp_path,
        url,
        name="real",
        space={
            "path": QUICK_SPACE,
            "overrides": {**TWO_ARCHS, "d_model": 32, "attention": {"n_heads": 2}},
        },
        tasks=["selective_copy:num_tokens=2,seq_len=8"],
        budget={"steps": 3, "batch_size": 2, "eval_batches": 1},
        objectives={
            "capability": "maximize",
            "tokens_per_s": "maximize",
            "peak_memory_bytes": "minimize",
        },
        execution={"workers": 2, "evaluator": "nas.proxy:evaluate"},
    )
    result = run(path)
    assert result.counts.complete == 2, [t.user_attrs for t in trials(url, "real")]
    for trial in trials(url, "real"):
        capability, tokens_per_s, memory = trial.values
        assert 0 <= capability <= 1 and tokens_per_s > 0 and memory > 0
    row = rows(url, "SELECT backend, versions_json, curve_json, tokens_per_s FROM evaluations")[0]
    assert row.backend in ("cpu", "torch", "triton", "reference") and "torch" in json.loads(
        row.versions_json
    )
    assert [entry["step"] for entry in json.loads(row.curve_json)][-1] == 3


# -- multi-fidelity -----------------------------------------------------------------------


def test_multi_fidelity_stops_the_worse_and_frees_workers(
    ray_cluster: str, markers: Path, tmp_path: Path
) -> None:
    import ray

    url = f"sqlite:///{tmp_path}/mf.db"
    path = write_study(
        tmp_path,
        url,
        name="mf",
        space=CONTINUOUS_SPACE,
        budget={"steps": 40, "batch_size": 2, "fidelity": {"levels": [0.25, 0.5], "eta": 2}},
        sampler={"name": "random", "seed": 4},
        n_trials=10,
        execution={"evaluator": "study_evaluators:slow"},
    )
    result = run(path)
    found = [t for t in trials(url, "mf") if not infeasible(t)]
    stopped = [t for t in found if "stopped at fidelity" in t.user_attrs.get("fail_reason", "")]
    complete = [t for t in found if t.state.name == "COMPLETE"]
    assert stopped and complete and result.counts.stopped >= 1
    for trial in complete:
        assert len(trial.user_attrs["rung_values"]) == 2 and trial.user_attrs["fidelity"] == 2
    for trial in stopped:
        assert trial.state.name == "PRUNED"
        assert len(trial.user_attrs["rung_values"]) == trial.user_attrs["fidelity"] + 1
    # a cancelled run keeps the curve it reached, short of the full 40 steps
    curves = rows(url, "SELECT curve_json, fidelity FROM evaluations WHERE status = 'stopped'")
    assert curves and all(json.loads(c.curve_json)[-1]["step"] < 40 for c in curves)
    # cancelled workers gave their CPUs back
    deadline = time.monotonic() + 20
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU", 0) == 2


# -- faults -------------------------------------------------------------------------------


def test_infeasible_suggestions_are_not_counted_and_a_hopeless_space_stops(
    ray_cluster: str, markers: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/infeasible.db"
    # at 7:1 the attention layer's 8K-token KV cache alone breaks the space's 2 MiB state
    # limit, so about half of the suggestions are infeasible
    path = write_study(
        tmp_path, url, name="constrained", space=CONTINUOUS_SPACE, sampler={"name": "random", "seed": 1},
        n_trials=4,
    )  # fmt: skip
    result = run(path)
    found = trials(url, "constrained")
    rejected = [t for t in found if infeasible(t)]
    assert rejected and len(found) - len(rejected) == 4  # four trained, whatever was pruned
    assert (result.counts.infeasible, result.counts.pruned) == (len(rejected), 0)
    assert result.gave_up is None

    # nothing in the space has at most one parameter: the driver stops asking
    monkeypatch.setattr("nas.study._runner.INFEASIBLE_STREAK_LIMIT", 5)
    hopeless = write_study(
        tmp_path, url, name="hopeless", space=CONTINUOUS_SPACE, constraints=["params <= 1"],
        sampler={"name": "random", "seed": 1}, n_trials=4,
    )  # fmt: skip
    result = run(hopeless)
    assert (result.counts.infeasible, result.counts.complete) == (5, 0)
    assert result.gave_up is not None
    assert "the last 5 suggestions all broke a constraint" in result.gave_up
    assert "params <= 1" in result.gave_up


def test_worker_killed_is_retried_then_fails(
    ray_cluster: str, markers: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/crash.db"
    space = {"path": QUICK_SPACE, "overrides": TWO_ARCHS}
    path = write_study(
        tmp_path,
        url,
        name="once",
        space=space,
        execution={"evaluator": "study_evaluators:crash_once"},
    )
    result = run(path)
    assert states(trials(url, "once")) == {"COMPLETE": 2} and result.counts.retried == 2

    path = write_study(
        tmp_path, url, name="always", space=space, cache=False,  # the archs above are cached
        execution={"evaluator": "study_evaluators:always_crash", "max_retries": 1},
    )  # fmt: skip
    run(path)
    found = trials(url, "always")
    assert states(found) == {"FAIL": 2}
    for trial in found:
        assert (
            "the worker died 2 times (execution.max_retries = 1)" in trial.user_attrs["fail_reason"]
        )


def test_exception_fails_and_divergence_prunes(ray_cluster: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/errors.db"
    space = {"path": QUICK_SPACE, "overrides": TWO_ARCHS}
    path = write_study(
        tmp_path,
        url,
        name="raise",
        space=space,
        execution={"evaluator": "study_evaluators:raise_on_attention"},
    )
    run(path)
    by_family = {t.user_attrs["family"]: t for t in trials(url, "raise")}
    assert by_family["ssm"].state.name == "COMPLETE"
    assert by_family["attention"].state.name == "FAIL"
    assert (
        "RuntimeError: boom: attention is not welcome here"
        in by_family["attention"].user_attrs["fail_reason"]
    )

    path = write_study(
        tmp_path, url, name="diverge", space=space, cache=False,
        execution={"evaluator": "study_evaluators:diverge_pure_ssm"},
    )  # fmt: skip
    run(path)
    by_family = {t.user_attrs["family"]: t for t in trials(url, "diverge")}
    assert by_family["ssm"].state.name == "PRUNED"
    assert "diverged: loss became nan at step 3" in by_family["ssm"].user_attrs["fail_reason"]
    assert by_family["attention"].state.name == "COMPLETE"
    assert rows(url, "SELECT COUNT(*) FROM evaluations WHERE status = 'diverged'")[0][0] == 1


def nas_run(path: Path, ray_address: str, *flags: str) -> subprocess.Popen[str]:
    """``nas run`` in a subprocess joining the test cluster (a new session: signals go to it alone)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nas",
            "run",
            str(path),
            "--ray-address",
            ray_address,
            "--progress",
            "lines",
            *flags,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_for_complete(
    url: str, name: str, count: int, process: subprocess.Popen[str], limit: float = 90
) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            if states(trials(url, name))["COMPLETE"] >= count:
                return
        except KeyError:  # the study does not exist yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} trials completed in {limit} s")


def test_driver_killed_then_resumed(ray_cluster: str, markers: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/kill.db"
    path = write_study(
        tmp_path, url, name="kill", space=CONTINUOUS_SPACE, sampler={"name": "random", "seed": 2},
        n_trials=6, execution={"evaluator": "study_evaluators:slow"},
    )  # fmt: skip
    driver = nas_run(path, ray_cluster)
    wait_for_complete(url, "kill", 2, driver)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    before = {t.number: t.values for t in trials(url, "kill") if t.state.name == "COMPLETE"}
    assert any(t.state.name == "RUNNING" for t in trials(url, "kill"))

    run(path)  # the same command again: stale trials are reclaimed and retried
    found = trials(url, "kill")
    counted = [
        t
        for t in found
        if (t.state.name != "FAIL" or "fail_reason" in t.user_attrs) and not infeasible(t)
    ]
    assert len(counted) == 6 and not any(t.state.name in ("RUNNING", "WAITING") for t in found)
    assert {t.number: t.values for t in found if t.number in before} == before  # none lost
    reclaimed = [t for t in found if t.state.name == "FAIL" and "fail_reason" not in t.user_attrs]
    assert reclaimed and all(
        any(r.system_attrs.get("failed_trial") == t.number for r in found) for t in reclaimed
    )
    # no run was recorded twice
    runs = rows(
        url,
        "SELECT arch_hash, task, seed, COUNT(*) AS n FROM evaluations GROUP BY arch_hash, task, seed",
    )
    assert all(r.n == 1 for r in runs)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # the test's own ask
def test_trial_left_before_its_first_heartbeat_is_reclaimed(
    ray_cluster: str, markers: Path, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """A driver killed between Optuna's ask and the trial's first heartbeat leaves a RUNNING
    trial that Optuna's stale check skips (it only looks at trials with a heartbeat): the
    next driver must reclaim it rather than wait for it forever."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/orphan.db"
    else:
        url, _ = request.getfixturevalue("pg_database")
    path = write_study(
        tmp_path, url, name="orphan", space=CONTINUOUS_SPACE, sampler={"name": "random", "seed": 4},
        n_trials=3,
    )  # fmt: skip
    config = load_study(path)
    storage = open_storage(url, heartbeat_interval=1, max_retry=config.execution.max_retries)
    study, _ = create_or_load(config, storage)
    orphan = study.ask()  # RUNNING, and no heartbeat ever
    storage.engine.dispose()

    shown = io.StringIO()
    run(path, Display("lines", console=Console(file=shown, width=200)))
    assert "1 trial is RUNNING under another driver; if that driver stopped, it is failed" in (
        shown.getvalue()
    )
    found = trials(url, "orphan")
    assert found[orphan.number].state.name == "FAIL"
    assert any(t.system_attrs.get("failed_trial") == orphan.number for t in found)
    assert not any(t.state.name in ("RUNNING", "WAITING") for t in found)
    assert sum(t.state.name == "COMPLETE" for t in found) == 3


def test_ctrl_c_stops_cleanly_and_resumes(ray_cluster: str, markers: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/int.db"
    path = write_study(
        tmp_path, url, name="int", space=CONTINUOUS_SPACE, sampler={"name": "random", "seed": 3},
        n_trials=12, execution={"evaluator": "study_evaluators:slow"},
    )  # fmt: skip
    driver = nas_run(path, ray_cluster)
    wait_for_complete(url, "int", 1, driver)
    os.killpg(driver.pid, signal.SIGINT)
    output, _ = driver.communicate(timeout=60)
    assert driver.returncode == 130, output
    assert "interrupted: run the same command again to resume" in output
    found = trials(url, "int")
    interrupted = [t for t in found if t.user_attrs.get("interrupted")]
    assert interrupted and all(t.state.name == "FAIL" for t in interrupted)
    assert not any(t.state.name == "RUNNING" for t in found)
    waiting = [t for t in found if t.state.name == "WAITING"]
    assert {t.system_attrs["failed_trial"] for t in waiting} == {t.number for t in interrupted}

    run(path)
    found = trials(url, "int")
    trained = states([t for t in found if not infeasible(t)])
    assert trained["COMPLETE"] + trained["PRUNED"] == 12 and "WAITING" not in states(found)


# -- PostgreSQL ---------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_study_and_two_drivers(
    ray_cluster: str, markers: Path, tmp_path: Path, pg_database: tuple[str, str]
) -> None:
    url, with_password = pg_database
    path = write_study(
        tmp_path, url, name="pg", space={"path": QUICK_SPACE, "overrides": TWO_ARCHS}
    )
    assert run(path).counts.complete == 2
    assert rows(url, "SELECT COUNT(*) FROM evaluations")[0][0] == 2

    # two drivers share one study; the password never shows
    shared = write_study(
        tmp_path, "sqlite:///unused.db", name="shared", space=CONTINUOUS_SPACE,
        sampler={"name": "random", "seed": 5}, n_trials=10,
        execution={"workers": 1, "evaluator": "study_evaluators:slow"},
    )  # fmt: skip
    drivers = [nas_run(shared, ray_cluster, "--storage", with_password) for _ in range(2)]
    outputs = [d.communicate(timeout=180)[0] for d in drivers]
    assert [d.returncode for d in drivers] == [0, 0], outputs
    assert all("s3cret-pw" not in out and "***" in out for out in outputs), outputs
    found = trials(url, "shared")
    finished = [
        t
        for t in found
        if (t.state.name in ("COMPLETE", "PRUNED") or "fail_reason" in t.user_attrs)
        and not infeasible(t)
    ]
    assert 10 <= len(finished) <= 11 and not any(t.state.name == "RUNNING" for t in found)
    done_by_driver = [int(re.search(r"shared: (\d+) complete", out).group(1)) for out in outputs]  # type: ignore[union-attr]
    assert all(n >= 1 for n in done_by_driver), outputs  # both did work
    trained_here = [
        t for t in found if t.state.name == "COMPLETE" and "duplicate_of" not in t.user_attrs
    ]
    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(schema.evaluations)).scalar()
    engine.dispose()
    assert count == 2 + len(trained_here)  # the first study's two, and one per architecture
