"""Non-dominated sorting, vectorised with numpy.

Rows are sorted lexicographically first: a row that dominates another is then always
before it, so each row only needs comparing with the front found so far.
"""

from __future__ import annotations

import numpy as np

_BLOCK = 512


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``points`` (n, m) that no other row dominates.

    Every column is minimised (negate the ones to maximise). A row dominates another if
    it is no worse in every column and better in one; equal rows do not dominate each
    other, so duplicates of a front point are all on the front. Rows holding NaN are
    never on the front.

    >>> non_dominated(np.array([[1.0, 2.0], [2.0, 1.0], [2.0, 2.0], [1.0, 2.0]])).tolist()
    [True, True, False, True]
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 2:
        raise ValueError(f"points must be a 2-d array (rows, objectives), got shape {points.shape}")
    mask = np.zeros(len(points), dtype=bool)
    valid = ~np.isnan(points).any(axis=1)
    if not valid.any():
        return mask
    unique, inverse = np.unique(points[valid], axis=0, return_inverse=True)
    mask[valid] = _front_of_sorted_unique(unique)[inverse.reshape(-1)]
    return mask


def _front_of_sorted_unique(rows: np.ndarray) -> np.ndarray:
    n, m = rows.shape
    if m == 1:
        return rows[:, 0] == rows[0, 0]
    if m == 2:
        # Sorted by (x, y): a row is dominated iff an earlier row has y <= its y.
        best_before = np.minimum.accumulate(rows[:, 1])
        return np.concatenate(([True], rows[1:, 1] < best_before[:-1]))
    on_front = np.zeros(n, dtype=bool)
    front = rows[:0]
    for start in range(0, n, _BLOCK):
        block = rows[start : start + _BLOCK]
        dominated = _no_worse_anywhere(front, block).any(axis=1)
        # Among unique rows "no worse anywhere" means "dominates"; other rows of the block count too.
        within = _no_worse_anywhere(block, block)
        np.fill_diagonal(within, False)
        dominated |= within.any(axis=1)
        on_front[start : start + len(block)] = ~dominated
        front = np.concatenate([front, block[~dominated]])
    return on_front


def _no_worse_anywhere(candidates: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(len(rows), len(candidates)) mask: candidate j <= row i in every column."""
    out = candidates[None, :, 0] <= rows[:, None, 0]
    for k in range(1, rows.shape[1]):
        out &= candidates[None, :, k] <= rows[:, None, k]
    return out
