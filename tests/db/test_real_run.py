"""nas.db and nas report on a database written by a real `nas run` (zero-cost evaluator)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from nas.cli.db import DEFAULT_STORAGE
from nas.db import Database
from nas.report import build_report

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.ray]


@pytest.fixture(scope="module")
def run_url(zero_cost_quickstart: Path) -> str:
    """The quickstart study, run end to end by `nas run` with workers that do not train."""
    return f"sqlite:///{zero_cost_quickstart / 'quickstart.db'}"


def test_the_printed_front_reads_well_in_a_pipe(run_url: str) -> None:
    """One row per architecture with its trial count; no header or figure broken in two."""
    out = (Path(run_url.removeprefix("sqlite:///")).parent / "run.out").read_text()
    lines = out.splitlines()
    assert "Pareto front of quickstart (" in lines[0]
    header = next(line for line in lines if "trial" in line and "family" in line)
    for name in ("trials", "capability ↑", "train_flops_per_token ↓", "state_bytes ↓"):
        assert name in header
    attention = [line for line in lines if "AFAFAFAF" in line]
    assert len(attention) == 1 and " 4 " in attention[0]  # four trials, one architecture
    rows = [line for line in lines if line.startswith("│")]
    assert all(row.split("│")[1].strip() for row in rows)  # no cell wrapped onto a next line


def test_default_storage_is_the_quickstarts() -> None:
    from nas.study import load_study

    assert load_study(REPO / "studies" / "quickstart.yaml").storage == DEFAULT_STORAGE


def test_queries_on_a_driver_written_study(run_url: str) -> None:
    db = Database(run_url)
    trials = db.trials("quickstart")
    assert (trials["state"] == "COMPLETE").all() and trials["cap.mqar"].notna().all()
    assert (
        trials["layout"] == trials["arch_hash"].map(lambda h: db.architecture(h)["spec"]["layout"])
    ).all()
    front = db.pareto("quickstart", by_architecture=False)
    best = optuna.load_study(study_name="quickstart", storage=run_url).best_trials
    assert sorted(front["number"]) == sorted(t.number for t in best)
    # One row per architecture: the grid's pure-attention points differ only in the d_state
    # they do not use, so the driver copied one training to four trials.
    folded = db.pareto("quickstart")
    assert folded["arch_hash"].is_unique and folded["n_trials"].sum() == len(front)
    attention = folded[folded["family"] == "attention"]
    assert len(attention) == 1 and int(attention["n_trials"].iloc[0]) == 4
    assert set(front["family"]) == {"hybrid", "ssm", "attention"}
    detail = db.trial("quickstart", int(front["number"].iloc[0]))
    assert {e["task_label"] for e in detail["evaluations"]} == {"mqar", "byte_lm"}


def test_report_on_a_driver_written_study(run_url: str, tmp_path: Path) -> None:
    report = build_report(Database(run_url), "quickstart")
    page = report.write_html(tmp_path / "report.html").read_text()
    assert "state_bytes" in page and "every objective" in page  # a three-objective study
    assert {s.key for s in report.sections if s.figure is not None} >= {
        "pareto",
        "ratio_by_d_state",
        "curves",
    }
