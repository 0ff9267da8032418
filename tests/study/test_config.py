"""Study files: the shipped ones load, and every kind of mistake is reported as file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nas.errors import UserError
from nas.study import StudyError, load_study, parse_duration
from nas.study._storage import make_sampler, sampler_class

REPO = Path(__file__).resolve().parents[2]
SPACE = REPO / "search_spaces" / "quickstart.yaml"

GOOD = f"""\
name: t
space: {SPACE}
tasks: ["mqar:num_kv_pairs=4,seq_len=32,vocab_size=32"]
budget: {{steps: 4, batch_size: 2}}
objectives: {{capability: maximize, state_bytes: minimize}}
sampler: grid
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(StudyError) as info:
        load_study(write(tmp_path, text))
    assert isinstance(info.value, UserError)
    return [str(p) for p in info.value.problems]


def test_shipped_studies_load() -> None:
    quick = load_study(REPO / "studies" / "quickstart.yaml")
    assert quick.name == "quickstart" and quick.sampler == "grid"
    assert quick.objective_names == ["capability", "train_flops_per_token", "state_bytes"]
    assert [b.params["layout.ratio"] for b in quick.baselines] == ["0:1", "1:0", "3:1"]
    assert quick.space.params["vocab_size"].values == (256,)  # the largest task vocabulary
    sweep = load_study(REPO / "studies" / "ratio_sweep.yaml")
    assert sweep.execution.gpus_per_trial > 0 and sweep.fidelity.enabled
    mf = load_study(REPO / "studies" / "quickstart_mf.yaml")
    assert mf.fidelity.levels[-1] == 1.0 and set(mf.fidelity.levels) <= set(
        mf.budget.eval_fractions
    )


def test_defaults_and_overrides(tmp_path: Path) -> None:
    config = load_study(write(tmp_path, GOOD))
    assert config.tasks == {
        "mqar:filler=0,gap_power=1.0,num_kv_pairs=4,seq_len=32,vocab_size=32": 1.0
    }
    assert config.seeds == (0,) and config.cache and config.n_trials is None
    assert config.storage == "sqlite:///t.db" and config.seq_len == 32 and config.context == 8192
    changed = config.with_overrides(
        workers=3, n_trials=7, timeout=60.0, cache=False, ray_address="h:1"
    )
    assert (changed.execution.workers, changed.n_trials, changed.timeout) == (3, 7, 60.0)
    assert not changed.cache and changed.execution.ray_address == "h:1"
    assert changed.fingerprint() == config.fingerprint()  # how it runs does not change values
    with pytest.raises(UserError, match="--workers"):
        config.with_overrides(workers=0)


def test_fingerprint_follows_what_decides_values(tmp_path: Path) -> None:
    base = load_study(write(tmp_path, GOOD)).fingerprint()
    other = load_study(write(tmp_path, GOOD.replace("steps: 4", "steps: 5"))).fingerprint()
    assert base != other


def test_task_weights_and_baseline_forms(tmp_path: Path) -> None:
    text = (
        GOOD.replace(
            'tasks: ["mqar:num_kv_pairs=4,seq_len=32,vocab_size=32"]',
            'tasks: {"mqar:seq_len=32,num_kv_pairs=4": 2, "byte_lm:seq_len=16": 1}',
        )
        + 'baselines: ["(MF)x3 AF", {layout: MFMFMFMF, ssm.d_state: 4}, {layout.ratio: "1:1"}]\n'
    )
    config = load_study(write(tmp_path, text))
    assert sorted(config.tasks.values()) == [1.0, 2.0]
    params = [b.params for b in config.baselines]
    assert params[0]["layout.ratio"] == "3:1" and params[0]["ssm.d_state"] == 16  # middle value
    assert params[1] == {"layout.ratio": "1:0", "ssm.d_state": 4}
    assert params[2]["layout.ratio"] == "1:1"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("sampler: grid", "sampler: grdi"),
            "study.yaml:6:10: sampler.name: unknown sampler 'grdi' (did you mean 'grid'?)",
        ),
        (
            ("capability: maximize", "capabilty: maximize"),
            "study.yaml:5:14: objectives.capabilty: unknown objective (did you mean 'capability'?)",
        ),
        (
            ("capability: maximize", "capability: up"),
            "study.yaml:5:26: objectives.capability: 'maximize' or 'minimize', not 'up'",
        ),
        (
            ("mqar:num_kv_pairs=4", "mqra:num_kv_pairs=4"),
            "study.yaml:3:9: tasks: unknown task 'mqra' (did you mean 'mqar'?)",
        ),
        (("steps: 4", "steps: 4, epochs: 2"), "study.yaml:4:20: budget.epochs: unknown key"),
        (
            ("steps: 4", "steps: -4"),
            "study.yaml:4:9: budget: budget steps must be a positive number, got -4",
        ),
        (
            ("sampler: grid", "sampler: tpe"),
            "study.yaml:1:1: n_trials: give n_trials or timeout (or both): when to stop",
        ),
    ],
)
def test_mistakes_point_at_file_line_column(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    found = problems(tmp_path, GOOD.replace(*change))
    assert len(found) == 1, found
    assert found[0].split("study.yaml", 1)[1].startswith(expected.split("study.yaml", 1)[1]), found


def test_misspelt_key_is_also_missing(tmp_path: Path) -> None:
    found = [
        p.split("study.yaml", 1)[1] for p in problems(tmp_path, GOOD.replace("budget:", "budgte:"))
    ]
    assert found == [
        ":1:1: budget: missing: every study needs it",
        ":4:1: budgte: unknown key (did you mean 'budget'?)",
    ]


def test_every_problem_at_once(tmp_path: Path) -> None:
    text = GOOD + textwrap.dedent(
        """\
        n_trials: 0
        timeout: 5 minutes
        seeds: [1, 1]
        constraints: ["parms <= 2M"]
        baselines: ["MFMFMFMFMF", {layout: "MX"}, {ssm.d_stat: 4}]
        execution: {workers: 0, backend: cuda, evaluator: nas.proxy.evaluate}
        storage: mysql://u:secret@h/db
        """
    )
    found = "\n".join(problems(tmp_path, text))
    for needle in (
        ":7:11: n_trials: must be at least 1, got 0",
        ":8:10: timeout: '5 minutes' is not a duration",
        ":9:8: seeds: seeds must be distinct",
        ":10:16: constraints[0]: unknown name 'parms' (did you mean 'params'?)",
        ":11:13: baselines[0]: the space has no architecture with layout MFMFMFMFMF",
        ":11:39: baselines[1].layout: 'x' must be followed by a repeat count",
        ":11:44: baselines[2].ssm.d_stat: not a searched parameter of the space (did you mean 'ssm.d_state'?)",
        ":12:22: execution.workers: must be at least 1, got 0",
        ":12:34: execution.backend: one of auto, triton, cpu, torch, reference, not 'cuda'",
        ":12:51: execution.evaluator: expected module:function",
        ":13:10: storage: storage mysql://u:***@h/db: use sqlite:///path/to/study.db",
    ):
        assert needle in found, f"{needle!r} not in\n{found}"
    assert "secret" not in found


def test_space_problems_and_grid_on_continuous_space(tmp_path: Path) -> None:
    space_line = "space: {path: " + str(SPACE) + ", overrides: {d_model: [64, 0]}}"
    found = problems(tmp_path, GOOD.replace(f"space: {SPACE}", space_line))
    # The column of the offending 0 depends on where the repository is checked out.
    column = space_line.index(", 0]") + 3
    assert found == [f"{tmp_path / 'study.yaml'}:2:{column}: d_model[1]: must be at least 1, got 0"]
    continuous = REPO / "search_spaces" / "state_size.yaml"
    found = problems(tmp_path, GOOD.replace(str(SPACE), str(continuous)))
    assert found == [
        f"{tmp_path / 'study.yaml'}:6:10: sampler.name: grid needs a finite space, and this one has a continuous range: use tpe or random"
    ]
    found = problems(tmp_path, GOOD.replace(str(SPACE), "nowhere.yaml"))
    assert "no such file" in found[0] and ":2:8:" in found[0]


def test_yaml_syntax_error(tmp_path: Path) -> None:
    found = problems(tmp_path, "name: [unclosed\n")
    assert "YAML syntax error" in found[0] and "study.yaml:" in found[0]


def test_fidelity_levels_checked(tmp_path: Path) -> None:
    found = problems(
        tmp_path, GOOD.replace("steps: 4,", "steps: 4, fidelity: {levels: [0.5, 0.25], eta: 1},")
    )
    assert any("eta: must be greater than 1" in p for p in found), found
    found = problems(
        tmp_path, GOOD.replace("steps: 4,", "steps: 4, fidelity: {levels: [0.5, 0.25]},")
    )
    assert any("levels must increase strictly" in p for p in found), found
    found = problems(
        tmp_path,
        GOOD.replace("steps: 4,", "steps: 4, fidelity: {levels: [0.5]},").replace(
            "capability: maximize, ", ""
        ),
    )
    assert any("multi-fidelity ranks trials by capability" in p for p in found), found


def test_parse_duration() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "1.5m", "2h", 7)] == [90, 90, 90, 7200, 7]
    with pytest.raises(ValueError):
        parse_duration("-3s")


def test_unreachable_ray_address_fails_at_once() -> None:
    import socket

    from nas.study._execution import _check_reachable

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        with pytest.raises(UserError, match=f"cannot join the Ray cluster at 127.0.0.1:{port}"):
            _check_reachable(f"127.0.0.1:{port}")
    _check_reachable("auto")  # left to Ray


@pytest.mark.parametrize("name", ["random", "tpe", "nsgaii", "nsgaiii", "gp"])
def test_every_sampler_builds_with_its_seed(tmp_path: Path, name: str) -> None:
    config = load_study(
        write(
            tmp_path,
            GOOD.replace("sampler: grid", f"sampler: {{name: {name}, seed: 7}}\nn_trials: 3"),
        )
    )
    assert (config.sampler, config.sampler_seed) == (name, 7)
    assert isinstance(make_sampler(config, config.sampler_seed), sampler_class(name))


def test_gp_sampler_samples_past_its_startup_trials(tmp_path: Path) -> None:
    """GPSampler builds without scipy and needs it only to fit: fit it, on the space itself."""
    import optuna

    sampler = "sampler: {name: gp, seed: 7, n_startup_trials: 2}\nn_trials: 4"
    config = load_study(write(tmp_path, GOOD.replace("sampler: grid", sampler)))
    study = optuna.create_study(
        directions=config.directions, sampler=make_sampler(config, config.sampler_seed)
    )
    for number in range(4):
        trial = study.ask()
        arch = config.space.suggest(trial)
        study.tell(trial, [number / 4, float(arch.d_model + number)])
    assert len(study.get_trials(states=[optuna.trial.TrialState.COMPLETE])) == 4
