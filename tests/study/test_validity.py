"""``nas fidelity`` end to end on a real Ray cluster: planted rankings (fidelity_evaluators)
whose rank correlations are known exactly, from the CLI and the Python API, on SQLite and
PostgreSQL; the cache and resumption; multi-fidelity levels read with no training; one real
training run. The plan (sampling, seeds, companion configs) is tested without Ray first."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml
from fidelity_evaluators import planted_capability
from scipy import stats

from nas.cli import main
from nas.db import Database
from nas.errors import UserError
from nas.proxy import Budget
from nas.study import load_study, plan_check, run_fidelity
from nas.study._validity import companion, stratified

REPO = Path(__file__).resolve().parents[2]
QUICK_SPACE = str(REPO / "search_spaces" / "quickstart.yaml")
MQAR = "mqar:num_kv_pairs=4,seq_len=32,vocab_size=32"
BYTES = "byte_lm:seq_len=16"
SWAP_RHO = 1 - 6 * 2 / (10 * 99)  # one adjacent swap among ten architectures
SWAP_TAU = 1 - 2 / 45


def write_study(tmp_path: Path, storage: str, **changes: Any) -> Path:
    study: dict[str, Any] = {
        "name": "s",
        "space": QUICK_SPACE,
        "tasks": [MQAR, BYTES],
        "budget": {"steps": 8, "batch_size": 2},
        "objectives": {"capability": "maximize", "state_bytes": "minimize"},
        "sampler": "grid",
        "execution": {"workers": 2, "heartbeat_interval": 1,
                      "evaluator": "fidelity_evaluators:planted"},
        "storage": storage,
    }  # fmt: skip
    study.update(changes)
    path = tmp_path / f"{study['name']}.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def trained(markers: Path, steps: int | None = None) -> int:
    found = [p.name.split("-") for p in markers.iterdir() if p.name.startswith("trained-")]
    return sum(1 for parts in found if steps is None or int(parts[2]) == steps)


def cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


def expected_rho(config: Any, task: str, steps: tuple[int, int]) -> float:
    """Spearman rho of the planted capabilities of the space's ten architectures."""
    archs = config.space.grid()
    low, high = ([planted_capability(a, task, at, 0) for a in archs] for at in steps)
    return float(stats.spearmanr(low, high).statistic)


# -- the plan, without training -----------------------------------------------------------------


def test_scaling_a_budget_scales_every_amount_and_nothing_else() -> None:
    budget = Budget(steps=150, batch_size=16, lr=1e-3, eval_fractions=(0.3, 1.0))
    assert budget.scaled(4) == Budget(steps=600, batch_size=16, lr=1e-3, eval_fractions=(0.3, 1.0))
    assert Budget(tokens=1000).scaled(0.25).tokens == 250 and Budget(steps=1).scaled(0.1).steps == 1
    assert Budget(flops=3e12).scaled(4).flops == 1.2e13
    with pytest.raises(UserError, match="positive number"):
        Budget(steps=10).scaled(0)
    config = load_study(REPO / "studies" / "quickstart_mf.yaml").scaled(4)
    assert config.budget.steps == 600 and config.summary["budget"]["steps"] == 600
    assert config.fingerprint() != load_study(REPO / "studies" / "quickstart_mf.yaml").fingerprint()


def test_sample_plan_covers_every_family_and_ratio(tmp_path: Path) -> None:
    config = load_study(write_study(tmp_path, f"sqlite:///{tmp_path}/p.db"))
    plan = plan_check(config, architectures=4)
    assert plan.source == "sample" and plan.seeds == (0, 1) and len(plan.candidates) == 4
    assert {c.arch.ratio for c in plan.candidates} == {"1:0", "3:1", "1:1", "0:1"}
    assert plan_check(config, architectures=4).check == plan.check  # reproducible
    everything = plan_check(config, architectures="all", seeds=3)
    assert len(everything.candidates) == 10 and everything.seeds == (0, 1, 2)
    assert everything.check != plan.check
    with pytest.raises(UserError, match="cannot cover the space's 4 family/ratio strata"):
        plan_check(config, architectures=3)
    with pytest.raises(UserError, match="--factor"):
        plan_check(config, factor=1)
    with pytest.raises(UserError, match="--seeds"):
        plan_check(config, seeds=0)
    assert stratified(list("aabbbc"), lambda s: s, 3) == ["a", "b", "c"]


def test_companion_studies_are_ordinary_studies_of_the_plan(tmp_path: Path) -> None:
    mf = load_study(REPO / "studies" / "quickstart_mf.yaml").with_overrides(
        storage=f"sqlite:///{tmp_path}/mf.db"
    )
    plan = plan_check(mf, architectures=5, seeds=2)
    base, scaled = companion(mf, plan, 1.0), companion(mf, plan, 4.0)
    assert base.name == f"quickstart_mf.fidelity-{plan.check}.x1" and scaled.name.endswith(".x4")
    assert base.budget == mf.budget  # the study's own budget hash: its runs are cache hits
    assert scaled.budget == mf.budget.scaled(4)
    for config in (base, scaled):
        assert not config.fidelity.enabled and config.seeds == (0, 1)
        assert config.n_trials == 5 and len(config.baselines) == 5 and config.timeout is None
        assert config.summary["fidelity_check"]["of"] == "quickstart_mf"
    assert scaled.summary["fidelity_check"]["factor"] == 4.0


# -- planted rankings on Ray ----------------------------------------------------------------------


@pytest.mark.ray
@pytest.mark.slow
def test_cli_on_a_sample_reports_the_planted_ranking_exactly(
    ray_cluster: str, markers: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/f.db"
    path = write_study(tmp_path, url)
    config = load_study(path)
    code, out = cli("fidelity", str(path), "--ray-address", ray_cluster, "--progress", "quiet",
                    "--format", "json")  # fmt: skip
    assert code == 0
    (result,) = json.loads(out)
    assert (result["kind"], result["low"], result["high"], result["factor"]) == (
        "budget", "8 steps", "32 steps", 4.0,
    )  # fmt: skip
    # 10 architectures x 2 tasks x 2 seeds at each budget, nothing in the database before
    assert trained(markers, 8) == 40 and trained(markers, 32) == 40
    targets = {row["target"]: row for row in result["targets"]}
    assert list(targets) == ["capability", "mqar", "byte_lm"]
    for target, rho, tau in (("capability", SWAP_RHO, SWAP_TAU), ("mqar", SWAP_RHO, SWAP_TAU),
                             ("byte_lm", 1.0, 1.0)):  # fmt: skip
        row = targets[target]
        assert row["n"] == 10
        assert row["spearman"] == pytest.approx(rho, abs=1e-9)
        assert row["kendall"] == pytest.approx(tau, abs=1e-9)
        assert row["spearman_low"] <= row["spearman"] <= row["spearman_high"]
        assert row["seeds_low"] == row["seeds_high"] == 1.0  # seeds only shift by 0.001
        assert row["sem_low"] == pytest.approx(0.0005) and row["sem_high"] == pytest.approx(0.0005)
    assert targets["mqar"]["spearman"] == pytest.approx(expected_rho(config, MQAR, (8, 32)))
    assert result["verdict"]["level"] == "stable"
    assert result["verdict"]["line"].startswith("ranking stable: rho 0.99 [")
    archs = {a["layout"] + str(a["d_state"]): a for a in result["architectures"]}
    assert (archs["AFAFAFAFNone"]["rank_low"], archs["AFAFAFAFNone"]["rank_high"]) == (2, 1)
    assert (archs["MFAFMFAF32"]["rank_low"], archs["MFAFMFAF32"]["rank_high"]) == (1, 2)

    # stored, not typed in: `nas db fidelity` computes the same from the database
    code, again = cli("db", "fidelity", "s", "--storage", url, "--format", "json")
    assert code == 0 and json.loads(again) == [result]
    code, table = cli("db", "fidelity", "s", "--storage", url)
    assert code == 0 and "ranking stable: rho 0.99" in table and "2 -> 1" in table
    code, csv = cli("db", "fidelity", "s", "--storage", url, "--format", "csv")
    assert csv.splitlines()[0].startswith("study,kind,check,low,high,factor,target,n,spearman")
    code, markdown = cli("db", "fidelity", "s", "--storage", url, "--format", "markdown")
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    assert code == 0 and rows[0].startswith("| study ") and "spearman" in rows[0]
    assert set(rows[1]) <= set("|:- ") and len(rows) == len(csv.splitlines()) + 1

    # rerunning resumes (nothing to train); another factor reuses the study's budget
    for path_ in markers.iterdir():
        path_.unlink()
    assert cli("fidelity", str(path), "--ray-address", ray_cluster, "--progress", "quiet")[0] == 0
    assert trained(markers) == 0
    code, _ = cli("fidelity", str(path), "--ray-address", ray_cluster, "--progress", "quiet",
                  "--factor", "2")  # fmt: skip
    assert code == 0 and trained(markers, 8) == 0 and trained(markers, 16) == 40
    with Database(url) as db:
        results = db.fidelity("s")
        assert sorted(r.factor for r in results) == [2.0, 4.0]
        # at 16 steps pure attention has not yet overtaken: the ranking holds exactly
        assert next(r for r in results if r.factor == 2).rows.iloc[0]["spearman"] == 1.0
        with pytest.raises(UserError, match="no fidelity check 'nope'"):
            db.fidelity("s", check="nope")


@pytest.mark.ray
@pytest.mark.slow
def test_python_api_checks_the_study_own_trials_and_reuses_their_runs(
    ray_cluster: str, markers: Path, tmp_path: Path
) -> None:
    from nas.report import build_report
    from nas.study import Display, run_study

    url = f"sqlite:///{tmp_path}/own.db"
    path = write_study(tmp_path, url, name="own", seeds=[0],
                       execution={"workers": 2, "heartbeat_interval": 1,
                                  "evaluator": "fidelity_evaluators:reversed_at_length"})  # fmt: skip
    config = load_study(path)
    assert run_study(config, display=Display("quiet")).counts.complete == 12
    assert trained(markers) == 20
    for marker in markers.iterdir():
        marker.unlink()

    run = run_fidelity(config, factor=4, architectures="all", seeds=2, display=Display("quiet"))
    assert run.plan.source == "trials" and len(run.plan.candidates) == 10
    # seed 0 at the study's budget is in the database already: only seed 1 trains there
    assert trained(markers, 8) == 10 * 2 and trained(markers, 32) == 10 * 2 * 2
    (result,) = run.results
    assert result.rows["spearman"].tolist() == pytest.approx([-1.0, -1.0, -1.0])
    assert result.verdict.level == "unstable"
    assert result.verdict.line.startswith(
        "do not trust this front: rho -1.00 [-1.00, -1.00] over 10 architectures, 8 steps vs 32"
    )
    with Database(url) as db:
        report = build_report(db, "own")
    section = next(s for s in report.sections if s.key == "fidelity")
    assert section.figure is not None and "do not trust this front" in (section.note or "")


@pytest.mark.ray
@pytest.mark.slow
def test_a_rerun_retries_the_architectures_that_failed(
    ray_cluster: str, markers: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/retry.db"
    path = write_study(tmp_path, url, name="retry", tasks=[MQAR],
                       execution={"workers": 2, "heartbeat_interval": 1,
                                  "evaluator": "fidelity_evaluators:planted_failing_once"})  # fmt: skip
    config = load_study(path)
    first = run_fidelity(config, architectures=5, seeds=1)
    (result,) = first.results
    assert result.rows.iloc[0]["n"] == 4 and len(result.missing) == 1
    assert result.verdict.level == "insufficient" and "rerun to finish" in result.verdict.line
    before = trained(markers)
    second = run_fidelity(config, architectures=5, seeds=1)
    (result,) = second.results
    assert result.rows.iloc[0]["n"] == 5 and not result.missing
    assert trained(markers) - before == 1  # only the failed run trains again
    found = {t.state.name for t in second.runs[1].best_trials}
    assert found == {"COMPLETE"}
    third = run_fidelity(config, architectures=5, seeds=1)
    assert trained(markers) - before == 1 and third.results[0].rows.iloc[0]["n"] == 5


@pytest.mark.ray
@pytest.mark.slow
def test_multi_fidelity_levels_are_compared_without_training(
    ray_cluster: str, markers: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/mf.db"
    path = write_study(
        tmp_path, url, name="mf", seeds=[0, 1],
        budget={"steps": 27, "batch_size": 2, "fidelity": {"levels": [0.33, 1.0], "eta": 2}},
    )  # fmt: skip
    from nas.study import Display, run_study

    result = run_study(load_study(path), display=Display("quiet"))
    assert result.counts.pruned > 0  # some stopped at level 0: fewer reach level 1
    before = trained(markers)
    code, out = cli("db", "fidelity", "mf", "--storage", url, "--format", "json")
    assert code == 0 and trained(markers) == before
    (rungs,) = json.loads(out)
    assert (rungs["kind"], rungs["low"], rungs["high"]) == (
        "rungs", "level 0 (9 steps)", "level 1 (27 steps)",
    )  # fmt: skip
    # the planted curves scale each run's final value by sqrt(fraction): the order holds
    assert [row["spearman"] for row in rungs["targets"]] == [1.0, 1.0, 1.0]
    assert rungs["targets"][0]["n"] == result.counts.complete - _duplicates(url)


def _duplicates(url: str) -> int:
    import optuna

    study = optuna.load_study(study_name="mf", storage=url)
    return sum(
        1 for t in study.trials if t.state.name == "COMPLETE" and "duplicate_of" in t.user_attrs
    )


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.postgres
def test_postgres(
    ray_cluster: str, markers: Path, tmp_path: Path, pg_database: tuple[str, str]
) -> None:
    url, _ = pg_database
    config = load_study(write_study(tmp_path, url, name="pg"))
    run = run_fidelity(config, factor=4, architectures=5, seeds=2)
    (result,) = run.results
    assert result.rows.iloc[0]["n"] == 5 and result.rows.iloc[0]["seeds_low"] == 1.0
    code, out = cli("db", "fidelity", "pg", "--storage", url, "--format", "json")
    assert code == 0 and json.loads(out)[0]["targets"] == json.loads(
        json.dumps(result.to_dict()["targets"])
    )


@pytest.mark.ray
@pytest.mark.slow
def test_real_training(ray_cluster: str, tmp_path: Path) -> None:
    """Real proxy training (nas.proxy.evaluate), tiny: four architectures, one per ratio."""
    url = f"sqlite:///{tmp_path}/real.db"
    path = write_study(
        tmp_path, url, name="real", tasks=["selective_copy:num_tokens=2,seq_len=8"],
        budget={"steps": 3, "batch_size": 2, "eval_batches": 1},
        execution={"workers": 2, "heartbeat_interval": 5, "evaluator": "nas.proxy:evaluate"},
    )  # fmt: skip
    code, out = cli("fidelity", str(path), "--ray-address", ray_cluster, "--architectures", "4",
                    "--factor", "2", "--progress", "quiet", "--format", "json")  # fmt: skip
    assert code == 0
    (result,) = json.loads(out)
    assert (result["low"], result["high"]) == ("3 steps", "6 steps")
    assert len(result["architectures"]) == 4 and not result["missing"]
    assert {a["ratio"] for a in result["architectures"]} == {"1:0", "3:1", "1:1", "0:1"}
    assert result["verdict"]["level"] == "insufficient"  # 4 architectures: too few to judge
    with Database(url) as db:
        counts = db.sql("SELECT budget_hash, COUNT(*) AS n FROM evaluations GROUP BY budget_hash")
    assert sorted(counts["n"]) == [8, 8]  # 4 architectures x 2 seeds at each budget
