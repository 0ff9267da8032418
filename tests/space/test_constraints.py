"""The constraint language: numbers and units, precedence, names from nas.compute, and errors."""

from __future__ import annotations

import pytest

from nas import compute
from nas.arch import ArchSpec
from nas.space import ConstraintError, parse_constraint

HYBRID = ArchSpec.parse("(MMMA)x2", d_model=64)
SSM_ONLY = ArchSpec.parse("MMMM", d_model=64)


@pytest.mark.parametrize(
    "text",
    [
        "2M == 2e6",
        "2e6 == 2_000_000",
        "1.5K == 1500",
        "4 MiB == 4194304",
        "4MiB == 4 * 1024 * 1024",
        "1 KiB + 1 K == 2024",
        "1 GiB == 1024 MiB and 1 TiB == 1024 GiB and 1T == 1000G",
        ".5 == 0.5",
        "1 + 2 * 3 == 7",
        "(1 + 2) * 3 == 9",
        "8 / 2 / 2 == 2",
        "2 - 3 - 4 == -5",
        "-2 * -3 == 6",
        "1 < 2 < 3",
        "not 1 < 3 < 2",
        "1 > 2 or 1 < 2 and 2 < 3",
        "not (1 > 2 and 1 < 2)",
        "1 != 2",
    ],
)
def test_constant_arithmetic_and_logic(text):
    assert parse_constraint(text).holds(HYBRID)


@pytest.mark.parametrize(
    "text",
    ["1 > 2 or 1 > 3", "1 < 3 < 2", "1 == 2", "not 1 < 2"],
)
def test_false_constraints(text):
    assert not parse_constraint(text).holds(HYBRID)


def test_names_and_calls_read_nas_compute():
    c = parse_constraint(
        "params > 0 and non_embedding_params < params and train_flops_per_token(512) > 0 "
        "and prefill_flops(100) > 0 and decode_flops_per_token(4K) > 0 and state_bytes(8192) > 0"
    )
    assert c.names == ("params", "non_embedding_params")
    assert c.calls == (
        ("train_flops_per_token", 512),
        ("prefill_flops", 100),
        ("decode_flops_per_token", 4000),
        ("state_bytes", 8192),
    )
    q = c.quantities(HYBRID)
    assert q["params"] == compute.param_count(HYBRID)
    assert q["non_embedding_params"] == compute.non_embedding_params(HYBRID)
    assert q["train_flops_per_token(512)"] == compute.train_flops_per_token(HYBRID, 512)
    assert q["prefill_flops(100)"] == compute.prefill_flops(HYBRID, 100)
    assert q["decode_flops_per_token(4000)"] == compute.decode_flops_per_token(HYBRID, 4000)
    assert q["state_bytes(8192)"] == compute.state_bytes(HYBRID, 8192)
    assert c.holds(HYBRID)


def test_structural_variables():
    c = parse_constraint(
        "n_layers == 8 and n_ssm == 6 and n_attention == 2 and n_mlp == 0 "
        "and attention_fraction == 0.25 and d_model == 64 and vocab_size == 256"
    )
    assert c.holds(HYBRID)
    assert not c.holds(SSM_ONLY)


def test_thresholds_against_the_real_figures():
    params = compute.param_count(HYBRID)
    assert parse_constraint(f"params <= {params}").holds(HYBRID)
    assert not parse_constraint(f"params < {params}").holds(HYBRID)
    state = compute.state_bytes(HYBRID, 8192)
    assert (state > 4 * 2**20) == (not parse_constraint("state_bytes(8192) <= 4 MiB").holds(HYBRID))


def test_violation_names_the_values_read():
    c = parse_constraint("params <= 1K and state_bytes(8192) <= 4 MiB")
    params = compute.param_count(HYBRID)
    message = c.violation(HYBRID)
    assert message.startswith("params <= 1K and state_bytes(8192) <= 4 MiB  [params = ")
    assert f"{params / 1e3:.3g}K" in message or f"{params / 1e6:.3g}M" in message
    assert "state_bytes(8192) = " in message and "MiB" in message
    assert parse_constraint("params >= 1K").violation(HYBRID) is None


def test_division_by_zero_is_a_violation():
    c = parse_constraint("n_ssm / n_attention >= 3")
    assert c.holds(HYBRID)
    assert c.violation(SSM_ONLY) == "n_ssm / n_attention >= 3  [division by zero]"


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("", 0, "empty constraint"),
        ("parms <= 1M", 0, "unknown name 'parms' (did you mean 'params'?)"),
        ("params <= 1M and n_layer < 8", 17, "unknown name 'n_layer' (did you mean 'n_layers'?)"),
        ("state_byte(8192) < 1", 0, "unknown function 'state_byte' (did you mean 'state_bytes'?)"),
        ("params <= 4 MB", 12, "unknown unit 'MB' (did you mean 'MiB'?)"),
        ("params <= 2 ** 20", 13, "unexpected '*'"),
        ("params <= 1M 2", 13, "unexpected '2': expected an operator or the end"),
        ("params <= (1M", 13, "missing ')'"),
        ("params <=", 9, "the constraint ends too early"),
        ("params", 0, "a constraint must be a comparison"),
        ("params + 1", 0, "a constraint must be a comparison"),
        ("params and n_layers < 2", 7, "'and' joins comparisons"),
        ("(params < 1) + 1 > 0", 13, "'+' needs numbers on both sides"),
        ("state_bytes <= 4 MiB", 0, "state_bytes needs its context, as in state_bytes(1024)"),
        ("state_bytes() <= 4 MiB", 12, "state_bytes needs its context"),
        ("state_bytes(8192, 2) <= 1", 16, "state_bytes takes one argument (context)"),
        ("state_bytes(params) <= 1", 12, "the context of state_bytes must be a constant number"),
        ("state_bytes(0.5) <= 1", 12, "the context of state_bytes must be a positive integer"),
        ("params <= 2e6; import os", 13, "unexpected character ';'"),
        ("__import__(os) == 0", 0, "unknown function '__import__'"),
        ("params.__class__ == 0", 6, "unexpected character '.'"),
        ("params <= 'x'", 10, 'unexpected character "\'"'),
    ],
)
def test_errors_carry_the_column(text, column, message):
    with pytest.raises(ConstraintError) as info:
        parse_constraint(text)
    assert info.value.column == column
    assert info.value.message.startswith(message)
    assert str(info.value).endswith(f"(in {text!r}, column {column + 1})")
