"""Every construct of the search-space YAML parses into the parameters it says."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas.space import SpaceError, load_space

SPACES = Path(__file__).resolve().parents[2] / "search_spaces"

RATIO = """
layout:
  n_layers: 4
  ratio: "3:1"
"""


def test_defaults_come_from_archspec(space_of):
    space = space_of(RATIO)
    assert [p.name for p in space.searched] == []
    assert space.params["d_model"].values == (64,)
    assert space.params["ssm.kind"].values == ("mamba2",)
    assert space.params["layout.placement"].values == ("interleave",)
    assert space.params["d_model"].location is None  # a default, not written in the file
    assert space.is_finite and space.discrete_size == 1
    (arch,) = space.grid()
    assert arch.layout == "MMMA" and arch.vocab_size == 256 and arch.mlp is None


def test_default_vocab_size_is_the_callers(space_of):
    assert space_of(RATIO, default_vocab_size=1000).grid()[0].vocab_size == 1000
    text = RATIO + "vocab_size: 50\n"
    assert space_of(text, default_vocab_size=1000).grid()[0].vocab_size == 50


@pytest.mark.parametrize(
    ("value", "kind", "grid"),
    [
        ("16", "fixed", [16]),
        ("[4, 16]", "choice", [4, 16]),
        ("{choice: [4, 16, 32]}", "choice", [4, 16, 32]),
        ("[8]", "fixed", [8]),
        ("{low: 4, high: 12, step: 4}", "int", [4, 8, 12]),
        ("{low: 2, high: 5}", "int", [2, 3, 4, 5]),
        ("{low: 2, high: 4, log: true}", "int", [2, 3, 4]),
    ],
)
def test_int_parameter_forms(space_of, value, kind, grid):
    space = space_of(RATIO + f"ssm:\n  d_state: {value}\n")
    param = space.params["ssm.d_state"]
    assert param.kind == kind
    assert param.grid_values() == grid
    assert sorted({a.ssm.d_state for a in space.grid()}) == grid


@pytest.mark.parametrize(
    ("value", "kind", "finite", "low", "high"),
    [
        # YAML 1.1 reads 1e-3 as a string; a float key takes it
        ("1e-3", "fixed", True, None, None),
        ("{low: 1e-4, high: 1e-2, log: true}", "float", False, 1e-4, 1e-2),
        ("{low: 0.001, high: 0.003, step: 0.001}", "float", True, 0.001, 0.003),
        ("{low: 1, high: 2}", "float", False, 1.0, 2.0),  # int literals in a float range
    ],
)
def test_float_parameter_forms(space_of, value, kind, finite, low, high):
    param = space_of(RATIO + f"attention:\n  rope_theta: {value}\n").params["attention.rope_theta"]
    assert param.kind == kind and param.is_finite == finite
    assert (param.low, param.high) == (low, high)
    if kind == "fixed":
        assert param.values == (0.001,)
    if kind == "float" and finite:
        assert param.grid_values() == [0.001, 0.002, 0.003]


def test_ratios_stay_strings_despite_yaml_base_60(space_of):
    # unquoted 3:1 is the integer 181 in YAML 1.1; the ratio key reads the text
    space = space_of("layout:\n  n_layers: 4\n  ratio: [3:1, 1:0, 0:1]\n")
    assert space.params["layout.ratio"].values == ("3:1", "1:0", "0:1")
    assert {a.layout for a in space.grid()} == {"MMMA", "MMMM", "AAAA"}


def test_ratio_form_with_placement_and_mlp_choices(space_of):
    space = space_of(
        """
        layout:
          n_layers: [4, 8]
          ratio: ["3:1", "1:1"]
          placement: [interleave, end]
          mlp: [false, true]
        """
    )
    layouts = set(space.layouts)
    assert {"MMMA", "MAMA", "MMAA", "MFMFMFAF", "MMMAMMMA", "MMMMMMAA"} <= layouts
    # 16 combinations; 3:1 on 4 layers is MMMA at either placement, so 14 distinct
    assert len(space.grid()) == len(layouts) == 14


def test_explicit_patterns_and_nemotron_alphabet(space_of):
    space = space_of(
        """
        layout:
          pattern: ["(MMMA)x2", "M-M-M*-", "M M | A"]
        """
    )
    assert space.layouts == ("MMMAMMMA", "MFMFMAF", "MMA")
    assert space.params["layout.pattern"].values == ("(MMMA)x2", "M-M-M*-", "M M | A")


def test_mixer_settings_all_keys(space_of):
    space = space_of(
        """
        d_model: 96
        tie_embeddings: false
        layout: {n_layers: 2, ratio: "1:1", mlp: true}
        ssm: {kind: mamba1, d_state: 8, expand: 1, d_conv: 3, dt_rank: 5, dt_min: 0.01, dt_max: 0.2}
        attention: {n_heads: 6, n_kv_heads: 2, window: 32, rope: false, rope_theta: 500000}
        mlp: {kind: gelu, expansion: 2.5, multiple_of: 16}
        """
    )
    (arch,) = space.grid()
    assert arch.tie_embeddings is False
    assert (arch.ssm.kind, arch.ssm.d_state, arch.ssm.expand, arch.ssm.d_conv) == (
        "mamba1",
        8,
        1,
        3,
    )
    assert (arch.ssm.dt_rank, arch.ssm.dt_min, arch.ssm.dt_max) == (5, 0.01, 0.2)
    assert arch.ssm.headdim is None  # a Mamba-2 setting
    assert (arch.attention.n_heads, arch.attention.n_kv_heads, arch.attention.window) == (6, 2, 32)
    assert arch.attention.rope is False
    assert (arch.mlp.kind, arch.mlp.d_ff) == ("gelu", 240)  # 2.5 * 96 = 240, a multiple of 16


def test_mlp_d_ff_rounds_to_the_multiple(space_of):
    space = space_of(
        RATIO.replace('"3:1"', '"1:0"\n  mlp: true') + "mlp: {expansion: 2.67, multiple_of: 16}\n"
    )
    assert space.grid()[0].mlp.d_ff == 176  # 2.67 * 64 = 170.9 -> nearest multiple of 16


def test_n_kv_heads_defaults_to_n_heads(space_of):
    arch = space_of(RATIO + "attention: {n_heads: 8}\n").grid()[0]
    assert arch.attention.n_kv_heads == 8


def test_conditional_parameters_are_marked(space_of):
    space = space_of(
        """
        layout: {n_layers: 4, ratio: ["1:0", "3:1", "0:1"], placement: [start, end]}
        ssm: {kind: [mamba1, mamba2], d_state: [4, 8], headdim: [8, 16]}
        attention: {n_heads: [2, 4], rope: [true, false], rope_theta: [1e4, 1e5]}
        """
    )
    p = space.params
    assert p["ssm.d_state"].condition == "layout has M"
    assert p["ssm.headdim"].condition == "layout has M and ssm.kind = mamba2"
    assert p["attention.rope_theta"].condition == "layout has A and attention.rope = true"
    assert p["layout.placement"].condition == "ratio mixes M and A"
    assert all(param.used for param in space.searched)


def test_unused_sections_are_not_searched(space_of):
    space = space_of(
        """
        layout: {n_layers: 2, ratio: "0:1"}
        ssm: {d_state: [4, 8], dt_min: {low: 0.001, high: 0.01}}
        """
    )
    assert not space.params["ssm.d_state"].used
    assert space.searched == []
    assert space.is_finite  # the continuous dt_min is never read by a pure-attention layout


def test_constraints_parse(space_of):
    space = space_of(RATIO + "constraints:\n  - params <= 2M\n  - 'state_bytes(8192) <= 4 MiB'\n")
    assert [c.text for c in space.constraints] == ["params <= 2M", "state_bytes(8192) <= 4 MiB"]


def test_name_and_description(space_of, write):
    space = space_of(RATIO + "description: a test\n")
    assert space.name == "space" and space.description == "a test"
    assert space_of(RATIO + "name: custom\n").name == "custom"


def test_extends_merges_sections_and_replaces_parameters(write):
    write(
        """
        name: base
        d_model: 32
        layout: {n_layers: 4, ratio: "3:1", mlp: true}
        ssm: {d_state: {low: 4, high: 8}, expand: 1}
        constraints: [params <= 10M]
        """,
        "base/base.yaml",
    )
    child = write(
        """
        extends: base/base.yaml
        layout: {ratio: ["1:0", "1:1"]}
        ssm: {d_state: [16, 32]}
        """,
        "child.yaml",
    )
    space = load_space(child)
    assert space.name == "child"  # the name is not inherited
    assert space.params["d_model"].values == (32,)
    assert space.params["layout.n_layers"].values == (4,)
    assert space.params["layout.mlp"].values == (True,)
    assert space.params["layout.ratio"].values == ("1:0", "1:1")
    assert space.params["ssm.d_state"].kind == "choice"  # replaced whole, not merged with low/high
    assert space.params["ssm.expand"].values == (1,)
    assert [c.text for c in space.constraints] == ["params <= 10M"]


def test_extends_chain_and_switching_layout_form(write):
    write("layout: {n_layers: 4, ratio: '1:1', placement: end}\nd_model: 32\n", "a.yaml")
    write("extends: a.yaml\nssm: {d_state: 8}\n", "b.yaml")
    child = write("extends: b.yaml\nlayout: {pattern: 'MMA'}\n", "c.yaml")
    space = load_space(child)
    assert space.layouts == ("MMA",)
    assert space.grid()[0].ssm.d_state == 8 and space.grid()[0].d_model == 32


def test_overrides_merge_like_a_child(write):
    path = write(RATIO + "ssm: {d_state: 4, expand: 1}\n")
    space = load_space(path, overrides={"ssm": {"d_state": [8, 16]}, "d_model": 32})
    assert {(a.ssm.d_state, a.ssm.expand, a.d_model) for a in space.grid()} == {
        (8, 1, 32),
        (16, 1, 32),
    }


def test_override_problems_are_reported_as_overrides(write):
    path = write(RATIO)
    with pytest.raises(SpaceError) as info:
        load_space(path, overrides={"ssm": {"d_stat": 4}})
    assert str(info.value) == "<overrides>: ssm.d_stat: unknown key (did you mean 'd_state'?)"


@pytest.mark.parametrize("name", sorted(p.name for p in SPACES.glob("*.yaml")))
def test_example_spaces_are_valid_and_feasible(name):
    space = load_space(SPACES / name)
    assert space.sample(3, seed=0)
    if space.is_finite:
        assert space.grid()


def test_example_spaces_shapes():
    quick = load_space(SPACES / "quickstart.yaml")
    archs = quick.grid()
    assert 10 <= len(archs) <= 16
    assert {a.family for a in archs} == {"ssm", "hybrid", "attention"}
    assert all(a.d_model <= 64 and a.n_layers <= 6 for a in archs)
    assert {"1:0", "0:1"} <= {a.ratio for a in archs}
    nemotron = load_space(SPACES / "nemotron_like.yaml")
    assert any("*" in v for v in nemotron.params["layout.pattern"].values)
    assert load_space(SPACES / "state_size.yaml").is_finite is False
    hybrid = load_space(SPACES / "hybrid_ratio.yaml")
    assert {p.name for p in hybrid.searched} == {"layout.ratio", "layout.placement", "ssm.d_state"}
