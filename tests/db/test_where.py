"""The --where language: parsing, evaluation on frames, and errors that point at the spot."""

from __future__ import annotations

import pandas as pd
import pytest

from nas.db._where import Where, WhereError
from nas.errors import UserError


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "d_state": [8, 16, 32, None],
            "family": ["ssm", "hybrid", "hybrid", None],
            "cap:mqar": [0.1, 0.5, 0.9, 0.3],
            "done": [True, False, True, None],
        }
    )


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("d_state >= 16 and family in ['hybrid']", [False, True, True, False]),
        ("d_state >= 16 AND family IN ('hybrid')", [False, True, True, False]),
        ("`cap:mqar` > 0.4 or family = 'ssm'", [True, True, True, False]),
        ("d_state != 8", [False, True, True, False]),
        ("d_state <> 8", [False, True, True, False]),
        ("not d_state == 8", [False, True, True, True]),
        ("family contains 'hy'", [False, True, True, False]),
        ("family not contains 'hy'", [True, False, False, False]),
        ('family matches "^h.*d$"', [False, True, True, False]),
        ("d_state is null", [False, False, False, True]),
        ("d_state is not null", [True, True, True, False]),
        ("done", [True, False, True, False]),
        ("d_state * 2 - 1 > 20", [False, True, True, False]),
        ("-d_state < -10", [False, True, True, False]),
        ("d_state / 8 in [1, 4]", [True, False, True, False]),
        ("d_state not in [8]", [False, True, True, False]),
        ("(d_state < 10 or d_state > 20) and not done == false", [True, False, True, False]),
        ("d_state >= 1_6 and `cap:mqar` < 1e0", [False, True, True, False]),
    ],
)
def test_mask(frame: pd.DataFrame, expression: str, expected: list[bool]) -> None:
    assert Where.parse(expression).mask(frame).tolist() == expected


def test_columns_lists_names_in_order() -> None:
    where = Where.parse("b > 1 and (a < 2 or b == 3) and `x:y` is null")
    assert where.columns == ["b", "a", "x:y"]


@pytest.mark.parametrize(
    ("expression", "column", "fragment"),
    [
        ("d_state >= and x", 11, "expected a column name"),
        ("(d_state > 3", 12, "expected ')'"),
        ("d_state > 'a", 10, "unterminated string"),
        ("3abc > 1", 1, "malformed number '3abc'"),
        ("a $ b", 2, "unexpected character '$'"),
        ("", 0, "empty"),
        ("d_state 3", 8, "expected 'and', 'or'"),
        ("d_state is 3", 11, "expected 'null'"),
        ("d_state in 3", 11, "expected a list"),
        ("d_state in [1 2]", 14, "expected ',' or ']'"),
        ("d_state in [1, d_state]", 15, "constants only"),
        ("`unclosed > 1", 0, "unterminated `quoted name`"),
    ],
)
def test_syntax_errors_point_at_the_position(frame: pd.DataFrame, expression, column, fragment):
    with pytest.raises(WhereError) as info:
        Where.parse(expression).mask(frame)
    error = info.value
    assert isinstance(error, UserError)
    assert error.column == column
    assert fragment in error.message
    lines = str(error).splitlines()
    assert lines[0].startswith(f"invalid --where expression at column {column + 1}:")
    assert lines[2].index("^") - 2 == column  # the caret sits under the offending character


@pytest.mark.parametrize(
    ("expression", "column", "fragment"),
    [
        ("famly == 'x'", 0, "unknown column 'famly'; did you mean family?"),
        ("family > 3", 7, "cannot combine the text column 'family' and a number"),
        ("d_state", 0, "not true/false"),
        ("family contains 3", 7, "needs a text column"),
        ("family matches '('", 7, "bad regular expression"),
        ("3 and d_state > 1", 0, "a value, not a condition"),
    ],
)
def test_semantic_errors_point_at_the_position(frame: pd.DataFrame, expression, column, fragment):
    with pytest.raises(WhereError) as info:
        Where.parse(expression).mask(frame)
    assert info.value.column == column
    assert fragment in info.value.message


def test_parse_checks_known_columns_before_any_data() -> None:
    with pytest.raises(WhereError, match="did you mean d_state"):
        Where.parse("dstate > 1", known=["d_state", "ratio"])


def test_never_evaluates_python() -> None:
    with pytest.raises(WhereError):
        Where.parse("__import__('os').system('true')")
