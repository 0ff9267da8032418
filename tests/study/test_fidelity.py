"""The multi-fidelity promotion rule (see nas.study._fidelity's docstring)."""

from __future__ import annotations

import numpy as np
import pytest

from nas.study import front_ranks, promote

MAX_MIN = ["maximize", "minimize"]


def test_front_ranks_peel_fronts() -> None:
    points = np.array([[1, 5], [2, 2], [5, 1], [3, 3], [4, 4], [6, 6], [np.nan, 0]], dtype=float)
    assert front_ranks(points).tolist() == [0, 0, 0, 1, 2, 3, 4]


def test_front_ranks_equal_points_share_a_rank() -> None:
    assert front_ranks(np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]])).tolist() == [0, 0, 1]
    assert front_ranks(np.zeros((0, 2))).tolist() == []


def test_first_trial_at_a_level_goes_on() -> None:
    assert promote([0.1, 9.0], [], MAX_MIN, eta=3)


def test_quota_is_one_in_eta_of_the_results() -> None:
    # capability only: ranks are plain order; 6 results, eta 3 -> the best 2 go on
    others = [[0.9], [0.8], [0.7], [0.6], [0.5]]
    assert promote([0.85], others, ["maximize"], eta=3)  # 1 better: inside the quota of 2
    assert not promote([0.75], others, ["maximize"], eta=3)  # 2 better: outside
    assert promote([0.75], others, ["maximize"], eta=2)  # quota 3


def test_a_front_that_straddles_the_cut_goes_on_whole() -> None:
    # four mutually non-dominated points and a dominated one: quota floor(5/3) = 1,
    # but every front-0 point has nobody strictly better
    front = [[0.9, 9.0], [0.7, 5.0], [0.5, 3.0], [0.3, 1.0]]
    for point in front:
        rest = [p for p in front if p != point] + [[0.2, 8.0]]
        assert promote(point, rest, MAX_MIN, eta=3)
    assert not promote([0.2, 8.0], front, MAX_MIN, eta=3)


def test_directions_are_respected() -> None:
    # the same numbers, read as minimise-minimise: [0.3, 1.0] dominates everything
    others = [[0.9, 9.0], [0.7, 5.0], [0.5, 3.0]]
    assert promote([0.3, 1.0], others, ["minimize", "minimize"], eta=2)
    assert not promote(
        [0.9, 9.0], [[0.3, 1.0], [0.5, 3.0], [0.7, 5.0]], ["minimize", "minimize"], eta=2
    )


def test_nan_ranks_last() -> None:
    assert not promote([float("nan"), 1.0], [[0.1, 2.0], [0.2, 3.0]], MAX_MIN, eta=2)


@pytest.mark.parametrize("eta", [2, 3, 4])
def test_about_one_in_eta_go_on_when_all_differ(eta: int) -> None:
    rng = np.random.default_rng(eta)
    values = rng.random(60).tolist()
    promoted = sum(
        promote([v], [[w] for w in values[:i] + values[i + 1 :]], ["maximize"], eta=eta)
        for i, v in enumerate(values)
    )
    assert promoted == 60 // eta
