"""Multi-fidelity promotion for single- and multi-objective studies (asynchronous successive
halving, ranked by non-dominated sorting).

Optuna's pruners refuse multi-objective studies, so the study runner decides itself.

The rule
--------
A study's budget has fidelity levels ``f_0 < f_1 < ... < f_K = 1`` (fractions of the full
budget) and a reduction factor ``eta``. Every trial trains at the full budget, and its
models are evaluated after each level's share of the steps. When all of a trial's runs
(every task and seed) have reached level ``k < K``, the trial's point at that level is its
objective values there: the weighted capability measured at ``f_k``, and the compute
figures (known exactly before training). Measured objectives (tokens/s, memory, wall time)
are not known until the end and take no part in promotion.

The point is compared with the points of every trial of the study that reached level ``k``
(earlier runs and other drivers included; copies of a duplicate architecture count once),
the new one among them: ``n`` points in all. Non-dominated sorting ranks them (rank 0: no
point dominates it; rank 1: only rank-0 points do; ...). With ``better`` the number of
points of a strictly lower rank, the trial goes on to level ``k + 1`` if

    better < max(1, floor(n / eta))

that is, if its front begins inside the top ``1/eta`` of the results; a front that
straddles the cut goes on whole, and the first trial at a level always goes on. Otherwise
the trial stops there: its running evaluations are cancelled at once (their workers freed)
and it is marked PRUNED with the level it reached. Decisions are asynchronous (ASHA): each
is taken when the trial reaches the level, against the results known then, and is never
revisited.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nas.db._pareto import non_dominated


def front_ranks(points: np.ndarray) -> np.ndarray:
    """Non-dominated rank of each row of ``points`` (n, m), every column minimised.

    Rank 0 is the Pareto front; rank r is the front once ranks < r are removed. Rows
    holding NaN rank after every other row.

    >>> front_ranks(np.array([[1.0, 4.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]])).tolist()
    [0, 0, 1, 2]
    """
    points = np.asarray(points, dtype=float)
    ranks = np.full(len(points), -1, dtype=int)
    remaining = np.flatnonzero(~np.isnan(points).any(axis=1)) if len(points) else np.array([], int)
    rank = 0
    while remaining.size:
        front = non_dominated(points[remaining])
        ranks[remaining[front]] = rank
        remaining = remaining[~front]
        rank += 1
    ranks[ranks < 0] = rank
    return ranks


def minimised(values: Sequence[Sequence[float]], directions: Sequence[str]) -> np.ndarray:
    """Rows of objective values turned into an all-minimised array (maximised ones negated)."""
    points = np.asarray(values, dtype=float).reshape(len(values), len(directions))
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return points * signs


def promote(
    point: Sequence[float],
    others: Sequence[Sequence[float]],
    directions: Sequence[str],
    eta: float,
) -> bool:
    """Whether a trial at a level goes on, by the rule in this module's docstring.

    ``point`` is the trial's values at the level; ``others`` the values of the other trials
    that reached it.

    >>> promote([0.9, 5.0], [[0.5, 5.0], [0.4, 6.0]], ["maximize", "minimize"], eta=3)
    True
    >>> promote([0.4, 6.0], [[0.9, 5.0], [0.5, 5.0], [0.3, 7.0]], ["maximize", "minimize"], eta=2)
    False
    """
    points = minimised([point, *others], directions)
    ranks = front_ranks(points)
    better = int((ranks < ranks[0]).sum())
    return better < max(1, math.floor(len(points) / eta))
