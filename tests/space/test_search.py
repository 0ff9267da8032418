"""Drawing architectures: Optuna define-by-run, grids, random samples, feasibility, properties."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nas.arch import ArchSpec
from nas.compute import param_count
from nas.space import InfeasibleArchitecture, SpaceError, load_space

SPACES = Path(__file__).resolve().parents[2] / "search_spaces"
optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(sampler: optuna.samplers.BaseSampler | None = None) -> optuna.Study:
    return optuna.create_study(sampler=sampler or optuna.samplers.RandomSampler(seed=0))


def test_suggest_asks_only_for_parameters_that_matter():
    space = load_space(SPACES / "quickstart.yaml")
    study = _study()
    seen = {}
    for _ in range(40):
        trial = study.ask()
        arch = space.suggest(trial)
        seen[arch.ratio] = set(trial.params)
        study.tell(trial, 0.0)
    assert seen["0:1"] == {"layout.ratio"}  # no SSM blocks: d_state is not a parameter
    assert seen["1:0"] == seen["3:1"] == {"layout.ratio", "ssm.d_state"}


def test_suggest_conditional_kinds_and_placement(space_of):
    space = space_of(
        """
        layout: {n_layers: 4, ratio: ["1:0", "1:1"], placement: [start, end]}
        ssm: {kind: [mamba1, mamba2], headdim: [16, 32], dt_rank: [2, 4]}
        attention: {rope: [true, false], rope_theta: [1e4, 1e6]}
        """
    )
    study = _study()
    for _ in range(60):
        trial = study.ask()
        arch = space.suggest(trial)
        names = set(trial.params)
        assert ("ssm.headdim" in names) == (arch.ssm.kind == "mamba2")
        assert ("ssm.dt_rank" in names) == (arch.ssm.kind == "mamba1")
        assert ("layout.placement" in names) == (arch.ratio == "1:1")
        assert ("attention.rope_theta" in names) == bool(arch.attention and arch.attention.rope)
        study.tell(trial, 0.0)


def test_tpe_sees_stable_distributions():
    # TPE raises if one name is asked with two distributions; the state_size space mixes
    # conditional, log-int and continuous parameters
    space = load_space(SPACES / "state_size.yaml")
    study = _study(optuna.samplers.TPESampler(seed=0, n_startup_trials=5))

    def objective(trial: optuna.Trial) -> float:
        arch = space.suggest(trial)
        return float(arch.ssm.d_state)

    study.optimize(objective, n_trials=15)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    dist = study.trials[-1].distributions["ssm.d_state"]
    assert (dist.low, dist.high, dist.log) == (4, 256, True)


def test_grid_sampler_covers_the_grid():
    space = load_space(SPACES / "quickstart.yaml")
    search_space = space.grid_search_space()
    assert search_space == {
        "layout.ratio": ["1:0", "3:1", "1:1", "0:1"],
        "ssm.d_state": [4, 16, 32],
    }
    study = _study(optuna.samplers.GridSampler(search_space, seed=0))
    hashes = set()
    study.optimize(
        lambda t: hashes.add(space.suggest(t).arch_hash) or 0.0, n_trials=space.discrete_size
    )
    assert hashes == {a.arch_hash for a in space.grid()}
    assert len(hashes) == 10  # 12 grid points; "0:1" ignores d_state


def test_grid_deduplicates_equal_architectures(space_of):
    space = space_of(
        """
        layout: {n_layers: 4, ratio: ["3:1", "6:2", "1:0"], placement: [interleave, end]}
        attention: {n_heads: [2, 4]}
        """
    )
    # 3:1 and 6:2 on 4 layers are both MMMA at either placement; pure SSM ignores heads
    assert space.discrete_size == 12
    archs = space.grid()
    assert sorted(a.layout for a in archs) == ["MMMA", "MMMA", "MMMM"]
    assert len({a.arch_hash for a in archs}) == 3


def test_different_parameter_values_same_architecture_hash_equal(space_of):
    space = space_of(
        """
        layout: {n_layers: 4, ratio: ["1:1", "2:2"], placement: [interleave, end]}
        ssm: {kind: [mamba1, mamba2], headdim: [16, 32]}
        """
    )
    fixed = optuna.trial.FixedTrial
    a = space.suggest(
        fixed({"layout.ratio": "1:1", "layout.placement": "end", "ssm.kind": "mamba1"})
    )
    b = space.suggest(
        fixed({"layout.ratio": "2:2", "layout.placement": "end", "ssm.kind": "mamba1"})
    )
    assert a == b and a.arch_hash == b.arch_hash
    c = space.suggest(
        fixed({"layout.ratio": "1:1", "layout.placement": "interleave", "ssm.kind": "mamba1"})
    )
    assert c.arch_hash != a.arch_hash  # MAMA versus MMAA


def test_infeasible_values_raise_and_are_skipped(space_of):
    space = space_of('layout: {n_layers: 4, ratio: "3:1"}\nattention: {n_heads: [4, 6]}\n')
    with pytest.raises(InfeasibleArchitecture, match=r"n_heads \(6\) must divide d_model \(64\)"):
        space.suggest(optuna.trial.FixedTrial({"attention.n_heads": 6}))
    assert [a.attention.n_heads for a in space.grid()] == [4]
    assert {a.attention.n_heads for a in space.sample(20, seed=1)} == {4}
    study = _study(optuna.samplers.GridSampler(space.grid_search_space()))
    study.optimize(lambda t: float(space.suggest(t).d_model), n_trials=2)
    states = sorted(t.state.name for t in study.trials)
    assert states == ["COMPLETE", "PRUNED"]  # InfeasibleArchitecture is an optuna.TrialPruned


def test_violations_grid_and_sample_respect_constraints(space_of):
    space = space_of(
        """
        layout: {n_layers: [2, 4, 8], ratio: "1:1"}
        constraints: [n_layers <= 4]
        """
    )
    big = ArchSpec.parse("MAMAMAMA")
    assert space.violations(big) == ["n_layers <= 4  [n_layers = 8]"]
    assert space.violations(ArchSpec.parse("MA")) == []
    assert sorted(a.n_layers for a in space.grid()) == [2, 4]
    assert all(a.n_layers <= 4 for a in space.sample(30, seed=3))


def test_sample_is_deterministic_per_seed():
    space = load_space(SPACES / "state_size.yaml")
    first = [a.arch_hash for a in space.sample(8, seed=7)]
    assert first == [a.arch_hash for a in space.sample(8, seed=7)]
    assert first != [a.arch_hash for a in space.sample(8, seed=8)]


def test_sample_gives_up_on_an_infeasible_space(space_of):
    space = space_of('layout: {n_layers: 4, ratio: "3:1"}\nconstraints: [params <= 10]\n')
    with pytest.raises(
        SpaceError, match=r"only 0 of 1100 random architectures are feasible.*params <= 10"
    ):
        space.sample(1, seed=0)


def test_grid_of_an_infinite_space_is_an_error():
    space = load_space(SPACES / "state_size.yaml")
    assert not space.is_finite
    with pytest.raises(SpaceError) as info:
        space.grid()
    (problem,) = info.value.problems
    assert problem.key == "ssm.dt_max" and "not finite" in problem.message
    assert problem.location.line is not None
    with pytest.raises(SpaceError):
        space.grid_search_space()


def test_grid_size_limit(space_of):
    space = space_of('layout: {n_layers: 4, ratio: "3:1"}\nssm: {d_state: {low: 1, high: 50}}\n')
    assert len(space.grid()) == 50
    with pytest.raises(SpaceError, match="more than 10 parameter combinations"):
        space.grid(max_size=10)


# -- properties ----------------------------------------------------------------------------

EXAMPLES = sorted(SPACES.glob("*.yaml"))


@settings(max_examples=15, deadline=None)
@given(path=st.sampled_from(EXAMPLES), seed=st.integers(0, 2**32 - 1))
def test_samples_satisfy_constraints_and_round_trip(path, seed):
    space = load_space(path)
    for arch in space.sample(4, seed=seed):
        assert all(c.holds(arch) for c in space.constraints)
        assert space.violations(arch) == []
        again = ArchSpec.from_json(arch.to_json())
        assert again == arch and again.arch_hash == arch.arch_hash
        assert arch.layout in space.layouts


RATIOS = ["1:0", "0:1", "1:1", "3:1", "1:3"]


@st.composite
def generated_spaces(draw: st.DrawFn) -> dict:
    """A random valid space: every ratio fits every n_layers (multiples of 4)."""
    return {
        "d_model": draw(st.sampled_from([32, 64, [32, 64], {"low": 32, "high": 96, "step": 32}])),
        "layout": {
            "n_layers": draw(
                st.lists(st.sampled_from([4, 8, 12]), min_size=1, max_size=3, unique=True)
            ),
            "ratio": draw(st.lists(st.sampled_from(RATIOS), min_size=1, max_size=4, unique=True)),
            "placement": draw(st.sampled_from(["interleave", "middle", ["start", "end"]])),
            "mlp": draw(st.sampled_from([True, False, [True, False]])),
        },
        "ssm": {
            "kind": draw(st.sampled_from(["mamba1", "mamba2", ["mamba1", "mamba2"]])),
            "d_state": draw(st.sampled_from([8, [4, 16], {"low": 2, "high": 64, "log": True}])),
            "dt_max": draw(st.sampled_from([0.1, {"low": 0.05, "high": 0.2}])),
        },
        "attention": {
            "n_heads": draw(st.sampled_from([2, 4, [2, 8]])),
            "n_kv_heads": draw(st.sampled_from([1, 2])),
        },
        "mlp": {"expansion": draw(st.sampled_from([2, 2.5, {"low": 1.0, "high": 4.0}]))},
        "constraints": [f"params <= {draw(st.integers(150, 2000))}K"],
    }


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=generated_spaces(), seed=st.integers(0, 1000))
def test_generated_spaces_sample_within_their_choices(write, spec, seed):
    space = load_space(write(yaml.safe_dump(spec)))
    try:
        archs = space.sample(3, seed=seed)
    except SpaceError as error:  # a tight params bound can leave almost nothing feasible
        assert "random architectures are feasible" in str(error)
        return
    limit = int(spec["constraints"][0].split("<= ")[1][:-1]) * 1000
    for arch in archs:
        assert space.violations(arch) == []
        assert ArchSpec.from_json(arch.to_json()).arch_hash == arch.arch_hash
        assert arch.n_layers in spec["layout"]["n_layers"]
        assert arch.ratio in {ArchSpec.parse(layout).ratio for layout in space.layouts}
        assert arch.ssm is None or arch.ssm.kind in str(spec["ssm"]["kind"])
        assert param_count(arch) <= limit
