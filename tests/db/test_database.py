"""nas.db.Database against the synthetic database: frames, filters, fronts, details."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest

from nas.db import Database, UnknownStudy, WhereError, non_dominated
from nas.errors import UserError


@pytest.fixture(scope="module")
def db(synthetic_url: str) -> Database:
    return Database(synthetic_url)


@pytest.fixture(scope="module")
def everything(db: Database) -> pd.DataFrame:
    return db.trials("alpha")


def test_studies_counts_and_objectives(db: Database, n_trials: dict[str, int]) -> None:
    studies = db.studies().set_index("study")
    assert list(studies.index) == ["alpha", "beta"]
    assert studies.loc["alpha", "n_trials"] == n_trials["alpha"]
    states = ["complete", "running", "pruned", "fail", "waiting"]
    assert studies.loc["alpha", states].sum() == n_trials["alpha"]
    assert (
        studies.loc["alpha", "objectives"] == "maximize capability, minimize train_flops_per_token"
    )
    assert db.objectives("beta") == {"capability": "maximize", "train_flops_per_token": "minimize"}


def test_trials_frame_has_one_row_per_trial_and_every_kind_of_column(
    everything: pd.DataFrame, n_trials: dict[str, int]
) -> None:
    assert len(everything) == n_trials["alpha"]
    assert everything["number"].tolist() == list(range(n_trials["alpha"]))
    for column in ("state", "capability", "train_flops_per_token", "layout", "family", "ratio",
                   "d_state", "params", "state_bytes", "cap.byte_lm", "cap.mqar:filler=2",
                   "gap.mqar:filler=2", "fidelity", "duration_s", "params_layout.ratio"):  # fmt: skip
        assert column in everything.columns, column
    complete = everything[everything["state"] == "COMPLETE"]
    assert complete["capability"].notna().all()
    assert everything.loc[everything["state"] != "COMPLETE", "capability"].isna().all()
    # Architecture columns agree with the ArchSpec they come from.
    pure_attention = everything[everything["family"] == "attention"]
    assert pure_attention["d_state"].isna().all() and (pure_attention["ratio"] == "0:1").all()
    assert str(everything["d_state"].dtype) == "Int64"
    # The categorical parameter decodes to its choice and matches the architecture.
    assert (everything["params_layout.ratio"] == everything["ratio"]).all()


def test_where_filters_like_pandas(db: Database, everything: pd.DataFrame) -> None:
    where = "d_state >= 16 and family == 'hybrid' and `cap.mqar:filler=0` > 0.5"
    got = db.trials("alpha", where=where, columns=["d_state"])
    expected = everything[
        (everything["d_state"] >= 16).fillna(False)
        & (everything["family"] == "hybrid")
        & (everything["cap.mqar:filler=0"] > 0.5)
    ]
    assert got["number"].tolist() == expected["number"].tolist()
    assert len(got) > 0


@pytest.mark.parametrize(
    "sort",
    [
        ["-capability"],
        ["train_flops_per_token"],
        ["-d_state", "capability"],
        ["ratio", "-params"],
        ["-state_bytes"],
        ["-cap.byte_lm"],
        ["fidelity", "-capability"],
    ],
)
def test_sort_and_limit_agree_with_pandas(
    db: Database, everything: pd.DataFrame, sort: list[str]
) -> None:
    """SQL sorts some keys itself and pandas the others: both give pandas' order."""
    got = db.trials("alpha", sort=sort, limit=25, columns=["capability"])
    names = [key.lstrip("-") for key in sort]
    expected = everything.sort_values(
        [*names, "number"], ascending=[*(not k.startswith("-") for k in sort), True],
        kind="stable", na_position="last",
    ).head(25)  # fmt: skip
    assert got["number"].tolist() == expected["number"].tolist()


def test_pareto_matches_brute_force_and_optuna(
    db: Database, everything: pd.DataFrame, synthetic_url: str
) -> None:
    front = db.pareto("alpha", by_architecture=False)
    complete = everything[everything["state"] == "COMPLETE"]
    points = np.column_stack([-complete["capability"], complete["train_flops_per_token"]])
    expected = complete[non_dominated(points)]
    assert sorted(front["number"]) == sorted(expected["number"])
    assert front["capability"].is_monotonic_decreasing  # best first
    study = optuna.load_study(study_name="alpha", storage=synthetic_url)
    assert sorted(front["number"]) == sorted(t.number for t in study.best_trials)
    # By architecture (the default): each front architecture once, by its first front trial.
    folded = db.pareto("alpha")
    assert folded["arch_hash"].is_unique
    assert set(folded["arch_hash"]) == set(expected["arch_hash"])
    first = expected.groupby("arch_hash")["number"].min()
    assert sorted(folded["number"]) == sorted(first)
    tries = complete.groupby("arch_hash").size()
    assert (folded["n_trials"].to_numpy() == tries[folded["arch_hash"]].to_numpy()).all()
    assert (folded["n_trials"] > 1).any()  # the synthetic sampler revisits architectures


def test_trials_by_architecture(db: Database, everything: pd.DataFrame) -> None:
    """One row per (architecture, state): the first trial, n_trials counting them all."""
    folded = db.trials("alpha", by_architecture=True)
    groups = everything.groupby(["arch_hash", "state"])
    assert len(folded) == groups.ngroups
    assert sorted(folded["number"]) == sorted(groups["number"].min())
    assert folded["n_trials"].sum() == len(everything)
    assert (everything["n_trials"] == 1).all()  # unfolded, a row is one trial
    # where, sort and limit apply to the folded rows, and n_trials can be filtered on
    repeated = db.trials("alpha", by_architecture=True, where="n_trials >= 3",
                         sort=["-n_trials"], limit=5, columns=["n_trials", "state"])  # fmt: skip
    assert len(repeated) == 5 and (repeated["n_trials"] >= 3).all()
    assert repeated["n_trials"].is_monotonic_decreasing
    top = folded.sort_values(["n_trials", "number"], ascending=[False, True]).head(5)
    assert repeated["number"].tolist() == top["number"].tolist()


def test_pareto_over_other_columns(db: Database, everything: pd.DataFrame) -> None:
    front = db.pareto("alpha", objectives={"capability": "maximize", "state_bytes": "minimize"},
                      where="family != 'attention'", columns=["state_bytes", "family"])  # fmt: skip
    assert set(front["family"]) <= {"ssm", "hybrid"}
    pool = everything[(everything["state"] == "COMPLETE") & (everything["family"] != "attention")]
    for row in front.itertuples(index=False):  # nothing in the pool beats a front row
        better = (pool["capability"] >= row.capability) & (pool["state_bytes"] <= row.state_bytes)
        strictly = (pool["capability"] > row.capability) | (pool["state_bytes"] < row.state_bytes)
        assert not (better & strictly).any()


def test_compare_two_studies(db: Database) -> None:
    both = db.compare("alpha", "beta")
    assert set(both["study"]) == {"alpha", "beta"}
    assert both["on_joint_front"].any()
    # A row on the joint front is dominated by nothing, in particular not by the other study.
    assert not (both["on_joint_front"] & both["dominated_by_other"]).any()


def test_trial_detail_has_evaluations_and_curves(db: Database, everything: pd.DataFrame) -> None:
    number = int(
        everything[(everything["state"] == "COMPLETE") & (everything["n_seeds"] == 2)][
            "number"
        ].iloc[0]
    )
    detail = db.trial("alpha", number)
    assert detail["trial"]["number"] == number
    assert detail["architecture"]["layout"] == detail["trial"]["layout"]
    runs = detail["evaluations"]
    assert len(runs) == detail["trial"]["n_evaluations"] == 6  # 3 tasks x 2 seeds
    assert {run["task_label"] for run in runs} == {"mqar:filler=0", "mqar:filler=2", "byte_lm"}
    assert all(run["curve"] and "capability" in run["curve"][-1] for run in runs)
    # Each evaluation is its own training run: the trial's time is their sum.
    assert detail["trial"]["eval_wall_s"] == pytest.approx(sum(run["wall_s"] for run in runs))
    curves = db.curves("alpha", numbers=[number])
    assert set(curves["number"]) == {number} and len(curves) == sum(len(r["curve"]) for r in runs)


def test_evaluations_and_architecture_across_studies(
    db: Database, everything: pd.DataFrame
) -> None:
    arch_hash = everything["arch_hash"].value_counts().index[0]
    runs = db.evaluations(arch_hash[:8])
    assert len(runs) > 0 and (runs["capability"].between(0, 1)).all()
    info = db.architecture(arch_hash[:10])
    assert info["arch_hash"] == arch_hash and info["spec"]["layout"]
    used = {(t["study"], t["number"]) for t in info["trials"]}
    assert {
        ("alpha", n) for n in everything.loc[everything["arch_hash"] == arch_hash, "number"]
    } <= used
    with pytest.raises(UserError, match="no architecture"):
        db.evaluations("ffffffffffffffff0")


def test_unknown_study_lists_the_others_with_did_you_mean(db: Database) -> None:
    with pytest.raises(UnknownStudy, match=r"did you mean 'alpha'\? studies: alpha, beta"):
        db.trials("alpah")


def test_unknown_columns_are_named(db: Database) -> None:
    with pytest.raises(WhereError, match="did you mean d_state"):
        db.trials("alpha", where="dstate > 3")
    with pytest.raises(
        UserError, match="unknown --sort column 'capabilty'; did you mean capability"
    ):
        db.trials("alpha", sort="-capabilty")
    with pytest.raises(UserError, match="unknown column 'layuot'"):
        db.trials("alpha", columns=["layuot"])


def test_sql_reads_and_refuses_writes(db: Database, n_trials: dict[str, int]) -> None:
    frame = db.sql(
        "SELECT study_name, COUNT(*) AS n FROM studies JOIN trials USING (study_id) GROUP BY study_name"
    )
    assert dict(zip(frame["study_name"], frame["n"], strict=True)) == n_trials
    with pytest.raises(UserError, match="only reads"):
        db.sql("DELETE FROM trials")
