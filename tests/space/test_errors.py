"""Every class of problem is reported as ``file:line:col: key: message``, all at once."""

from __future__ import annotations

import pytest

from nas.space import SpaceError, load_space

LAYOUT = 'layout: {n_layers: 4, ratio: "3:1"}\n'

CASES = {
    "yaml syntax": (
        "layout:\n  n_layers: [4, 6\n  ratio: 1\n",
        "space.yaml:3:8: YAML syntax error: expected ',' or ']', but got ':' (while parsing a flow sequence)",
    ),
    "tab indentation": (
        "layout:\n\tn_layers: 4\n",
        "space.yaml:2:1: YAML syntax error: found character '\\t' that cannot start any token "
        "(while scanning for the next token)",
    ),
    "empty file": ("# only a comment\n", "space.yaml:1:1: the file is empty"),
    "top level not a mapping": (
        "- 1\n- 2\n",
        "space.yaml:1:1: the top level must be a mapping of keys (layout:, d_model:, ...)",
    ),
    "duplicate key": (
        LAYOUT + "d_model: 32\nd_model: 64\n",
        "space.yaml:3:1: d_model: duplicate key (first given at line 2)",
    ),
    "unknown top-level key": (
        LAYOUT + "d_modle: 32\n",
        "space.yaml:2:1: d_modle: unknown key (did you mean 'd_model'?)",
    ),
    "unknown section key": (
        LAYOUT + "ssm:\n  dstate: 8\n",
        "space.yaml:3:3: ssm.dstate: unknown key (did you mean 'd_state'?)",
    ),
    "unknown key in a range": (
        LAYOUT + "d_model: {low: 32, hihg: 64}\n",
        "space.yaml:2:20: d_model.hihg: unknown key (did you mean 'high'?): a parameter is a value, "
        "a list, {choice: [...]} or {low, high, step, log}",
    ),
    "section not a mapping": (
        LAYOUT + "ssm: 16\n",
        "space.yaml:2:6: ssm: expected a mapping of ssm settings",
    ),
    "wrong type int": (
        LAYOUT + "d_model: 64.5\n",
        "space.yaml:2:10: d_model: expected an integer, got '64.5'",
    ),
    "quoted number is text": (
        LAYOUT + 'd_model: "64"\n',
        "space.yaml:2:10: d_model: expected an integer, got '64'",
    ),
    "wrong type bool": (
        LAYOUT + "tie_embeddings: 1\n",
        "space.yaml:2:17: tie_embeddings: expected true or false, got '1'",
    ),
    "wrong type float": (
        LAYOUT + "ssm:\n  dt_min: fast\n",
        "space.yaml:3:11: ssm.dt_min: expected a number, got 'fast'",
    ),
    "null where not allowed": (
        LAYOUT + "d_model: null\n",
        "space.yaml:2:10: d_model: expected an integer, got null",
    ),
    "enum did you mean": (
        LAYOUT + "ssm:\n  kind: mamba3\n",
        "space.yaml:3:9: ssm.kind: 'mamba3' is not one of mamba1, mamba2 (did you mean 'mamba2'?)",
    ),
    "wrong type in a choice": (
        LAYOUT + "ssm:\n  d_state: [4, x, 8]\n",
        "space.yaml:3:16: ssm.d_state[1]: expected an integer, got 'x'",
    ),
    "below minimum": (
        LAYOUT + "attention:\n  window: 0\n",
        "space.yaml:3:11: attention.window: must be at least 1, got 0",
    ),
    "non-positive float": (
        LAYOUT + "mlp:\n  expansion: -1\n",
        "space.yaml:3:14: mlp.expansion: must be greater than 0, got -1",
    ),
    "empty choice": (
        LAYOUT + "ssm:\n  d_state: []\n",
        "space.yaml:3:12: ssm.d_state: empty choice: give at least one value",
    ),
    "empty choice long form": (
        LAYOUT + "ssm:\n  d_state: {choice: []}\n",
        "space.yaml:3:21: ssm.d_state: empty choice: give at least one value",
    ),
    "duplicate choice": (
        LAYOUT + "d_model: [32, 64, 32]\n",
        "space.yaml:2:19: d_model[2]: duplicate choice 32",
    ),
    "choice and range": (
        LAYOUT + "d_model: {choice: [32], low: 1}\n",
        "space.yaml:2:10: d_model: give either choice or a range, not both (low)",
    ),
    "low > high": (
        LAYOUT + "d_model: {low: 64, high: 32}\n",
        "space.yaml:2:16: d_model: low (64) is greater than high (32)",
    ),
    "range missing high": (
        LAYOUT + "d_model: {low: 64}\n",
        "space.yaml:2:10: d_model: a range needs low and high (missing high)",
    ),
    "step does not divide": (
        LAYOUT + "d_model: {low: 32, high: 100, step: 32}\n",
        "space.yaml:2:26: d_model: high - low (68) is not a multiple of step (32): use high: 96 or 128",
    ),
    "log with step": (
        LAYOUT + "d_model: {low: 32, high: 96, step: 32, log: true}\n",
        "space.yaml:2:36: d_model: a log range cannot have a step",
    ),
    "range on a text key": (
        LAYOUT + "ssm:\n  kind: {low: 1, high: 2}\n",
        "space.yaml:3:9: ssm.kind: a range needs a numeric parameter; ssm.kind is one of mamba1, mamba2: use choice",
    ),
    "missing layout": (
        "d_model: 32\n",
        "space.yaml:1:1: layout: missing: give layout.n_layers and layout.ratio, or layout.pattern",
    ),
    "layout missing ratio": (
        "layout:\n  n_layers: 4\n",
        "space.yaml:2:3: layout: missing ratio (or give layout.pattern instead)",
    ),
    "both layout forms": (
        "layout:\n  pattern: MMA\n  n_layers: 3\n",
        "space.yaml:3:3: layout.n_layers: give either layout.pattern or n_layers/ratio/placement/mlp, not both",
    ),
    "bad ratio text": (
        'layout:\n  n_layers: 4\n  ratio: ["3:1", "3-1"]\n',
        "space.yaml:3:18: layout.ratio[1]: ratio '3-1' must look like 'S:A', for example '3:1', '1:0' or '0:1'",
    ),
    "ratio that cannot be laid out": (
        'layout:\n  n_layers: [4, 6, 10]\n  ratio: ["1:1", "3:1"]\n',
        "space.yaml:3:18: layout.ratio: ratio 3:1 cannot be laid out on 6 layers: it needs a multiple "
        "of 4 layers; nor on n_layers = 10",
    ),
    "fixed ratio blames the n_layers choice": (
        'layout:\n  n_layers: [4, 6]\n  ratio: "3:1"\n',
        "space.yaml:2:17: layout.n_layers: ratio 3:1 cannot be laid out on 6 layers: it needs a multiple of 4 layers",
    ),
    "pattern syntax error column": (
        "layout:\n  pattern: [\"(MMMA)x2\", 'MM(MA']\n",
        "space.yaml:2:31: layout.pattern[1]: missing ')' to close the group",
    ),
    "pattern bad letter column": (
        "layout:\n  pattern: MMQA\n",
        "space.yaml:2:14: layout.pattern: unexpected 'Q': use M (SSM), A or * (attention), F or - (MLP), "
        "( ) for groups and xN to repeat",
    ),
    "unknown constraint name": (
        LAYOUT + "constraints:\n  - parms <= 2M\n",
        "space.yaml:3:5: constraints[0]: unknown name 'parms' (did you mean 'params'?)",
    ),
    "unknown constraint function": (
        LAYOUT + 'constraints:\n  - "state_byte(8192) <= 4 MiB"\n',
        "space.yaml:3:6: constraints[0]: unknown function 'state_byte' (did you mean 'state_bytes'?)",
    ),
    "constraint syntax error": (
        LAYOUT + "constraints:\n  - params <= \n  - 'params < 1M and'\n",
        "space.yaml:3:14: constraints[0]: the constraint ends too early: expected a number, name or '('",
    ),
    "constraints not a list": (
        LAYOUT + "constraints: params <= 1M\n",
        "space.yaml:2:14: constraints: expected a list of expressions, e.g. - params <= 2e6",
    ),
    "n_heads never divides d_model": (
        LAYOUT + "d_model: 30\n",
        "space.yaml:2:10: d_model: attention.n_heads (4) must divide d_model (30)",
    ),
    "n_kv_heads choice never divides": (
        LAYOUT + "attention:\n  n_heads: 4\n  n_kv_heads: [3, 5]\n",
        "space.yaml:4:15: attention.n_kv_heads: no combination of the given values works: "
        "attention.n_kv_heads (3) must divide attention.n_heads (4)",
    ),
    "headdim never divides d_inner": (
        LAYOUT + "ssm:\n  headdim: 48\n",
        "space.yaml:3:12: ssm.headdim: ssm.headdim (48) must divide d_inner = ssm.expand * d_model (128)",
    ),
    "dt range reversed": (
        LAYOUT + "ssm:\n  dt_min: 0.5\n  dt_max: 0.1\n",
        "space.yaml:3:11: ssm.dt_min: ssm.dt_min (0.5) exceeds ssm.dt_max (0.1)",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_problem_is_reported_at_its_line_and_key(problems_of, case):
    text, expected = CASES[case]
    assert problems_of(text)[0] == expected


def test_unused_settings_are_not_checked(space_of):
    # n_heads 5 cannot divide 64, but a pure-SSM layout has no attention to build
    space_of('layout: {n_layers: 2, ratio: "1:0"}\nattention: {n_heads: 5}\n')


def test_all_problems_of_a_file_at_once(problems_of):
    problems = problems_of(
        """
        d_modle: 32
        layout:
          n_layers: 4
          ratio: "3:1"
          placment: end
        ssm:
          d_state: []
          kind: mamba3
        constraints:
          - parms < 1M
          - params < 1 MB
        """
    )
    keys = [p.split(": ")[1] for p in problems]
    assert keys == [
        "d_modle",
        "layout.placment",
        "ssm.d_state",
        "ssm.kind",
        "constraints[0]",
        "constraints[1]",
    ]
    assert [p.split(":")[1] for p in problems] == ["1", "5", "7", "8", "10", "11"]


def test_problems_in_a_base_point_at_the_base(write):
    write("layout: {n_layers: 4, ratio: '3:1'}\nssm:\n  d_stat: 4\n", "base.yaml")
    child = write("extends: base.yaml\nd_model: 32\n", "child.yaml")
    with pytest.raises(SpaceError) as info:
        load_space(child)
    (problem,) = info.value.problems
    assert problem.location.file.endswith("base.yaml") and problem.location.line == 3
    assert problem.key == "ssm.d_stat"


def test_merged_values_keep_their_file(write, tmp_path):
    # the base's n_heads choices fail only with the child's d_model: the base's line is blamed
    write("layout: {n_layers: 4, ratio: '3:1'}\nattention: {n_heads: [5, 7]}\n", "base.yaml")
    child = write("extends: base.yaml\nd_model: 32\n", "child.yaml")
    with pytest.raises(SpaceError) as info:
        load_space(child)
    (problem,) = info.value.problems
    assert str(problem) == (
        f"{tmp_path / 'base.yaml'}:2:22: attention.n_heads: no combination of the given values "
        "works: attention.n_heads (5) must divide d_model (32)"
    )


def test_circular_extends(write, tmp_path):
    write("extends: b.yaml\n", "a.yaml")
    write("layout: {n_layers: 4, ratio: '3:1'}\nextends: ./a.yaml\n", "b.yaml")
    with pytest.raises(SpaceError) as info:
        load_space(write("extends: a.yaml\n", "top.yaml"))
    (problem,) = info.value.problems
    assert (problem.location.file, problem.location.line, problem.key) == (
        str(tmp_path / "b.yaml"),
        2,
        "extends",
    )
    chain = " -> ".join(str(tmp_path / name) for name in ("top.yaml", "a.yaml", "b.yaml", "a.yaml"))
    assert problem.message == f"circular extends: {chain}"


def test_file_extending_itself(write):
    path = write("extends: space.yaml\n")
    with pytest.raises(SpaceError, match="circular extends"):
        load_space(path)


def test_missing_base(write, tmp_path):
    path = write("extends: nowhere.yaml\n")
    with pytest.raises(SpaceError) as info:
        load_space(path)
    assert str(info.value) == f"{path}:1:10: extends: no such file: {tmp_path / 'nowhere.yaml'}"


def test_missing_file(tmp_path):
    with pytest.raises(SpaceError, match=r"absent\.yaml: no such file"):
        load_space(tmp_path / "absent.yaml")
