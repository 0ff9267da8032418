"""The layout grammar (patterns, Nemotron alphabet) and the ratio/placement form."""

from __future__ import annotations

import pytest

from nas.arch import LayoutError, layout_from_ratio, parse_layout, parse_ratio, reduced_ratio


@pytest.mark.parametrize(
    ("pattern", "layout"),
    [
        ("MMMA", "MMMA"),
        ("(MMMA)x2", "MMMAMMMA"),
        ("(MMMA) x 2", "MMMAMMMA"),
        ("(Mx3 A)X2", "MMMAMMMA"),
        ("((MF)x2 AF)x2", "MFMFAFMFMFAF"),
        ("M-M-M*-", "MFMFMAF"),  # Nemotron-H alphabet
        ("M*-M", "MAFM"),
        ("MM | MA", "MMMA"),
        ("M_M\nA", "MMA"),
        ("Mx10", "M" * 10),
    ],
)
def test_patterns_expand(pattern, layout):
    assert parse_layout(pattern) == layout


@pytest.mark.parametrize(
    ("pattern", "column", "message"),
    [
        ("", 0, "the layout is empty"),
        ("FF", 0, "the layout has no mixer"),
        ("MMQA", 2, "unexpected 'Q'"),
        ("(MMA", 4, "missing ')'"),
        ("MMA)", 3, "')' without a matching '('"),
        ("M()A", 1, "empty group '()'"),
        ("(MA)x", 5, "'x' must be followed by a repeat count"),
        ("(MA)x0", 5, "a repeat count must be at least 1"),
    ],
)
def test_pattern_errors_carry_the_column(pattern, column, message):
    with pytest.raises(LayoutError) as info:
        parse_layout(pattern)
    assert info.value.column == column
    assert info.value.message.startswith(message)


@pytest.mark.parametrize(
    ("placement", "layout"),
    [
        ("interleave", "MMMAMMMA"),
        ("start", "AAMMMMMM"),
        ("end", "MMMMMMAA"),
        ("middle", "MMMAAMMM"),
    ],
)
def test_placements(placement, layout):
    assert layout_from_ratio(8, "3:1", placement) == layout


def test_ratio_form_details():
    assert layout_from_ratio(4, "1:0") == "MMMM"
    assert layout_from_ratio(3, "0:1") == "AAA"
    assert layout_from_ratio(6, "1:1") == "MAMAMA"
    assert layout_from_ratio(6, "2:1") == "MMAMMA"
    assert layout_from_ratio(4, "3:1", mlp=True) == "MFMFMFAF"
    assert layout_from_ratio(8, "7:1") == "MMMMMMMA"
    assert layout_from_ratio(4, "6:2") == layout_from_ratio(4, "3:1")


@pytest.mark.parametrize(
    ("n_layers", "ratio", "message"),
    [
        (6, "3:1", "ratio 3:1 cannot be laid out on 6 layers: it needs a multiple of 4 layers"),
        (4, "3-1", "must look like 'S:A'"),
        (4, "0:0", "has no layers"),
        (0, "1:1", "n_layers must be at least 1"),
    ],
)
def test_ratio_errors(n_layers, ratio, message):
    with pytest.raises(LayoutError, match=message):
        layout_from_ratio(n_layers, ratio)


def test_unknown_placement():
    with pytest.raises(LayoutError, match="placement 'top'"):
        layout_from_ratio(4, "1:1", "top")  # type: ignore[arg-type]


def test_parse_and_reduce_ratio():
    assert parse_ratio("3:1") == (3, 1)
    assert parse_ratio(" 1 : 0 ") == (1, 0)
    assert reduced_ratio("MMMAMMMAFF") == "3:1"
    assert reduced_ratio("MMMM") == "1:0"
    assert reduced_ratio("AFAF") == "0:1"
    assert reduced_ratio("MMAA") == "1:1"
