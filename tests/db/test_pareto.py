"""Vectorised non-dominated sorting against a brute-force definition."""

from __future__ import annotations

import numpy as np
import pytest

from nas.db._pareto import non_dominated


def _brute_force(points: np.ndarray) -> np.ndarray:
    valid = ~np.isnan(points).any(axis=1)
    out = np.zeros(len(points), dtype=bool)
    for i in np.flatnonzero(valid):
        others = points[valid]
        dominators = (others <= points[i]).all(axis=1) & (others < points[i]).any(axis=1)
        out[i] = not dominators.any()
    return out


@pytest.mark.parametrize("n_objectives", [1, 2, 3, 4])
def test_matches_brute_force_with_ties_and_nans(n_objectives: int) -> None:
    rng = np.random.default_rng(n_objectives)
    for _ in range(60):
        n = int(rng.integers(1, 80))
        points = rng.integers(0, 5, (n, n_objectives)).astype(float)  # many ties and duplicates
        points[rng.random(n) < 0.1, 0] = np.nan
        np.testing.assert_array_equal(non_dominated(points), _brute_force(points))


def test_large_three_objective_front_spanning_blocks() -> None:
    rng = np.random.default_rng(0)
    points = rng.random((1500, 3))
    np.testing.assert_array_equal(non_dominated(points), _brute_force(points))


def test_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError, match="2-d"):
        non_dominated(np.zeros(3))
