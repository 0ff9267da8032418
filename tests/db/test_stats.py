"""The proxy-validity statistics (nas.db._stats): exact values on planted rankings, the
verdict's thresholds, and the NaN cases a real study produces (ties, one seed, plateaus)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nas.db._stats import (
    FRONT_KEPT,
    MIN_ARCHITECTURES,
    STABLE_RHO,
    front_overlap,
    mean_and_sem,
    rank_agreement,
    seed_reliability,
    seed_statistics,
    verdict,
    weighted_capability,
)

TEN = list(range(10))


def test_a_preserved_ranking_has_rho_and_tau_one_with_a_degenerate_interval() -> None:
    agreement = rank_agreement(TEN, [v**2 + 5 for v in TEN])  # monotone: the same ranking
    assert agreement.n == 10
    for interval in (agreement.spearman, agreement.kendall):
        assert (interval.value, interval.low, interval.high) == (1.0, 1.0, 1.0)


def test_one_adjacent_swap_of_ten_gives_the_textbook_values() -> None:
    swapped = [*TEN[:8], 9, 8]
    agreement = rank_agreement(TEN, swapped)
    assert agreement.spearman.value == pytest.approx(1 - 6 * 2 / (10 * 99), abs=1e-12)
    assert agreement.kendall.value == pytest.approx(1 - 2 * 1 / 45, abs=1e-12)
    assert agreement.spearman.low < agreement.spearman.value <= agreement.spearman.high <= 1.0


def test_a_reversed_ranking_is_minus_one() -> None:
    agreement = rank_agreement(TEN, TEN[::-1])
    assert agreement.spearman.value == -1.0 and agreement.kendall.value == -1.0


def test_agreement_matches_scipy_with_ties_and_is_reproducible() -> None:
    rng = np.random.default_rng(3)
    low, high = rng.integers(0, 4, 15).astype(float), rng.integers(0, 4, 15).astype(float)
    first, again = rank_agreement(low, high), rank_agreement(low, high)
    assert first == again  # a stored result reads the same every time
    assert first.spearman.value == pytest.approx(stats.spearmanr(low, high).statistic)
    assert first.kendall.value == pytest.approx(stats.kendalltau(low, high).statistic)


def test_interval_narrows_with_more_architectures() -> None:
    rng = np.random.default_rng(0)
    widths = []
    for n in (8, 64):
        low = rng.normal(size=n)
        high = low + rng.normal(scale=0.7, size=n)
        interval = rank_agreement(low, high).spearman
        widths.append(interval.high - interval.low)
    assert widths[1] < widths[0] / 1.5


def test_missing_and_constant_values() -> None:
    assert rank_agreement([1, 2], [1, 2]).n == 2
    assert math.isnan(rank_agreement([1, 2], [1, 2]).spearman.value)
    nan_pairs = rank_agreement([1, 2, np.nan, 4, 5], [1, 2, 3, np.nan, 5])
    assert nan_pairs.n == 3 and nan_pairs.spearman.value == 1.0
    plateau = rank_agreement([0.25] * 6, TEN[:6])  # every architecture ties at the low budget
    assert math.isnan(plateau.spearman.value)
    line = verdict(plateau, low="150 steps", high="600 steps").line
    assert line.startswith("do not trust this front: one fidelity ranks nothing")


def test_seed_reliability_and_statistics() -> None:
    same = [[0.1, 0.101], [0.5, 0.501], [0.9, 0.901]]
    assert seed_reliability(same) == 1.0
    three_seeds = [[1, 1, 3], [2, 2, 2], [3, 3, 1]]  # pairs: 1, -1, -1
    assert seed_reliability(three_seeds) == pytest.approx(-1 / 3)
    assert math.isnan(seed_reliability([[0.1], [0.2], [0.3]]))
    assert math.isnan(seed_reliability([[0.1, 0.2], [0.2, 0.3]]))  # two architectures
    assert mean_and_sem([0.5, 0.7]) == (0.6, 0.1)
    assert mean_and_sem([np.nan, 0.5])[0] == 0.5
    rows = pd.DataFrame(
        {
            "arch": ["a", "a", "b"],
            "task": ["t"] * 3,
            "seed": [0, 1, 0],
            "capability": [0.4, 0.6, 0.2],
        }
    )
    table = seed_statistics(rows, ["arch", "task"])
    assert table.loc[("a", "t"), "sem"] == pytest.approx(0.1)
    assert table.loc[("b", "t"), "n_seeds"] == 1 and math.isnan(table.loc[("b", "t"), "sem"])


def test_weighted_capability_and_front_overlap() -> None:
    assert weighted_capability({"a": 1.0, "b": 0.0}, {"a": 3.0, "b": 1.0}) == 0.75
    assert math.isnan(weighted_capability({"a": 1.0}, {"a": 1.0, "b": 1.0}))
    overlap = front_overlap(["x", "y"], ["x", "y"])
    assert overlap.jaccard == 1.0 and not overlap.left and not overlap.joined
    assert math.isnan(front_overlap([], []).jaccard)


def _agreement(rho_scale: float, n: int = 12) -> object:
    rng = np.random.default_rng(1)
    low = np.arange(n, dtype=float)
    return rank_agreement(low, low + rng.normal(scale=rho_scale, size=n))


def test_verdict_levels_follow_the_documented_thresholds() -> None:
    stable = _agreement(0.5)
    assert stable.spearman.value >= STABLE_RHO
    assert verdict(stable, low="a", high="b").level == "stable"
    # the same ranking, but the seeds disagree or the front changed: uncertain, with why
    noisy = verdict(stable, low="a", high="b", seeds_low=0.3)
    assert noisy.level == "uncertain" and "seed-to-seed rho 0.30 at a" in noisy.line
    moved = front_overlap(["p", "q", "r"], ["p", "s", "t"])
    assert moved.jaccard < FRONT_KEPT
    changed = verdict(stable, low="a", high="b", front=moved)
    assert changed.level == "uncertain" and "the front changed: 1 of 3 kept" in changed.line
    middling = rank_agreement(TEN, [4, 0, 2, 1, 7, 3, 9, 5, 6, 8])
    assert middling.spearman.value == pytest.approx(0.684848484848)
    assert verdict(middling, low="a", high="b").level == "uncertain"
    unstable = verdict(rank_agreement(TEN, TEN[::-1]), low="150 steps", high="600 steps")
    assert unstable.level == "unstable"
    assert unstable.line.startswith("do not trust this front: rho -1.00 [-1.00, -1.00] over 10")
    few = rank_agreement(TEN[: MIN_ARCHITECTURES - 1], TEN[: MIN_ARCHITECTURES - 1])
    assert verdict(few, low="a", high="b").level == "insufficient"
