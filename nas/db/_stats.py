"""How far to trust a ranking: pure statistics over capabilities, for ``nas fidelity``,
``nas db fidelity`` and the report (no database, no I/O).

- :func:`mean_and_sem`, :func:`seed_statistics`: mean and standard error over seeds;
- :func:`weighted_capability`: the tasks' weighted mean, as a study's capability is;
- :func:`rank_agreement`: Spearman rho and Kendall tau between two rankings of the same
  architectures, with paired bootstrap intervals (``scipy.stats.bootstrap``);
- :func:`seed_reliability`: how well two seeds agree on the ranking;
- :func:`front_overlap`: which Pareto-front members two fidelities share;
- :func:`verdict`: one line a user can act on, by the thresholds below.

Thresholds (documented in the README, "Proxy validity")
-------------------------------------------------------
A ranking is *stable* when Spearman rho >= :data:`STABLE_RHO` with the lower end of its
95% interval >= :data:`STABLE_LOW`, the seeds agree (seed-to-seed rho >=
:data:`RELIABLE_SEEDS` at both fidelities, where there are 2+ seeds) and the fronts share at
least :data:`FRONT_KEPT` of their members (Jaccard index). It is *unstable* (do not trust
the front) when rho < :data:`UNSTABLE_RHO`, when its interval reaches 0 or below, or when
one fidelity ranks nothing (every architecture scores the same). Otherwise it is
*uncertain*. Fewer than :data:`MIN_ARCHITECTURES` architectures are *insufficient*.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

STABLE_RHO = 0.8
STABLE_LOW = 0.5
UNSTABLE_RHO = 0.5
RELIABLE_SEEDS = 0.5
FRONT_KEPT = 0.5
MIN_ARCHITECTURES = 5
CONFIDENCE = 0.95
RESAMPLES = 2000

Level = Literal["stable", "uncertain", "unstable", "insufficient"]


# -- seeds ------------------------------------------------------------------------------------
def mean_and_sem(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample standard deviation / sqrt(n)); the
    error is NaN for a single value, both are NaN for none. NaN values are left out.

    >>> mean_and_sem([0.5, 0.7])
    (0.6, 0.1)
    >>> mean_and_sem([0.5])
    (0.5, nan)
    """
    array = np.asarray(values, dtype=float)
    array = array[~np.isnan(array)]
    if array.size == 0:
        return math.nan, math.nan
    mean = float(array.mean())
    sem = float(array.std(ddof=1) / math.sqrt(array.size)) if array.size > 1 else math.nan
    return round(mean, 12), round(sem, 12)


def seed_statistics(
    frame: pd.DataFrame, by: Sequence[str], value: str = "capability"
) -> pd.DataFrame:
    """Per group of ``by`` (e.g. architecture, or architecture and task): ``mean``, ``sem``
    (standard error of the mean over the group's rows, one per seed) and ``n_seeds``.

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"arch": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
    ...                      "capability": [0.5, 0.7, 0.2, 0.2]})
    >>> seed_statistics(rows, ["arch"]).round(3).to_dict("index")
    {'a': {'mean': 0.6, 'sem': 0.1, 'n_seeds': 2}, 'b': {'mean': 0.2, 'sem': 0.0, 'n_seeds': 2}}
    """
    grouped = frame.groupby(list(by))[value]
    out = grouped.agg(mean="mean", sem="sem", n_seeds="count")
    out["n_seeds"] = out["n_seeds"].astype(int)
    return out


def weighted_capability(per_task: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """A study's capability: the weighted mean of its tasks' capabilities (NaN when a task
    has no value).

    >>> weighted_capability({"mqar": 0.9, "byte_lm": 0.3}, {"mqar": 1.0, "byte_lm": 0.5})
    0.7
    """
    total = sum(weights.values())
    value = sum(weights[task] * per_task.get(task, math.nan) for task in weights) / total
    return round(float(value), 12)


def seed_reliability(table: Any) -> float:
    """Seed-to-seed agreement: Spearman rho between the rankings two seeds give the same
    architectures (rows of ``table``, one column per seed), averaged over pairs of seeds.
    Rows missing a seed's value are left out of that pair. NaN with fewer than two seeds,
    fewer than three architectures, or a seed under which every architecture ties.

    >>> seed_reliability([[0.1, 0.2], [0.5, 0.4], [0.9, 0.8]])
    1.0
    >>> seed_reliability([[0.1, 0.5], [0.5, 0.1], [0.9, 0.9]])
    0.5
    >>> seed_reliability([[0.1], [0.5], [0.9]])
    nan
    """
    from scipy import stats

    array = np.asarray(table, dtype=float)
    if array.ndim != 2 or array.shape[1] < 2:
        return math.nan
    rhos = []
    for a, b in combinations(range(array.shape[1]), 2):
        both = ~np.isnan(array[:, a]) & ~np.isnan(array[:, b])
        if both.sum() < 3:
            continue
        with warnings.catch_warnings():  # a constant column: no ranking, NaN
            warnings.simplefilter("ignore")
            rho = stats.spearmanr(array[both, a], array[both, b]).statistic
        if not math.isnan(rho):
            rhos.append(rho)
    return round(float(np.mean(rhos)), 12) if rhos else math.nan


# -- two fidelities -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    """A statistic and its bootstrap interval (NaN where it cannot be computed)."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        if math.isnan(self.value):
            return "n/a"
        if math.isnan(self.low):
            return f"{self.value:.2f}"
        return f"{self.value:.2f} [{self.low:.2f}, {self.high:.2f}]"


@dataclass(frozen=True)
class RankAgreement:
    """Spearman rho and Kendall tau(-b) between two rankings of ``n`` architectures."""

    n: int
    spearman: Interval
    kendall: Interval


def rank_agreement(
    low: Sequence[float],
    high: Sequence[float],
    *,
    confidence: float = CONFIDENCE,
    n_resamples: int = RESAMPLES,
    seed: int = 0,
) -> RankAgreement:
    """How well the ranking by ``low`` predicts the ranking by ``high`` (paired values, one
    per architecture): Spearman rho and Kendall tau-b, each with a percentile bootstrap
    interval over architectures (``scipy.stats.bootstrap``, paired resampling, fixed seed so
    that a stored result always reads the same). Resamples in which every architecture ties
    on one side rank nothing and are left out. Needs 3 architectures (NaN otherwise).

    >>> agreement = rank_agreement([1, 2, 3, 4, 5, 6], [10, 20, 30, 40, 50, 60])
    >>> agreement.n, str(agreement.spearman), str(agreement.kendall)
    (6, '1.00 [1.00, 1.00]', '1.00 [1.00, 1.00]')
    >>> swapped = rank_agreement([1, 2, 3, 4, 5, 6], [10, 20, 40, 30, 50, 60])
    >>> round(swapped.spearman.value, 4), round(swapped.kendall.value, 4)
    (0.9429, 0.8667)
    """
    from scipy import stats

    x, y = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    keep = ~np.isnan(x) & ~np.isnan(y)
    x, y = x[keep], y[keep]
    n = int(x.size)
    nothing = Interval(math.nan, math.nan, math.nan)
    if n < 3:
        return RankAgreement(n, nothing, nothing)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")  # constant resamples: NaN, left out below
        point = _both(x, y)
        if np.isnan(point).all():
            return RankAgreement(n, nothing, nothing)
        result = stats.bootstrap(
            (x, y),
            _both,
            paired=True,
            vectorized=True,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="percentile",
            random_state=np.random.default_rng(seed),
        )
    distribution = np.atleast_2d(result.bootstrap_distribution)  # (2, n_resamples)
    tail = 100 * (1 - confidence) / 2
    intervals = []
    for value, draws in zip(point, distribution, strict=True):
        draws = draws[~np.isnan(draws)]
        if math.isnan(value) or draws.size == 0:
            intervals.append(Interval(float(value), math.nan, math.nan))
            continue
        low_end, high_end = np.percentile(draws, [tail, 100 - tail])
        intervals.append(Interval(*(round(float(v), 12) for v in (value, low_end, high_end))))
    return RankAgreement(n, intervals[0], intervals[1])


def _both(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """(Spearman rho, Kendall tau-b) along ``axis``: rho is Pearson's r of the ranks."""
    from scipy import stats

    rx, ry = stats.rankdata(x, axis=axis), stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    rho = (rx * ry).sum(axis=axis) / np.sqrt((rx * rx).sum(axis=axis) * (ry * ry).sum(axis=axis))
    tau = stats.kendalltau(x, y, axis=axis).statistic
    return np.stack([np.clip(rho, -1.0, 1.0), np.asarray(tau, dtype=float)])


@dataclass(frozen=True)
class FrontOverlap:
    """Pareto-front members kept between two fidelities, and those that left or joined."""

    kept: tuple[str, ...]
    left: tuple[str, ...]  # on the front at the lower fidelity only
    joined: tuple[str, ...]  # on the front at the higher fidelity only

    @property
    def jaccard(self) -> float:
        """Members of both fronts over members of either (1.0: the same front)."""
        union = len(self.kept) + len(self.left) + len(self.joined)
        return len(self.kept) / union if union else math.nan

    def __str__(self) -> str:
        size = len(self.kept) + len(self.left)
        return (
            f"{len(self.kept)} of {size} kept, {len(self.joined)} new (Jaccard {self.jaccard:.2f})"
        )


def front_overlap(low: Collection[str], high: Collection[str]) -> FrontOverlap:
    """Compare the fronts (sets of architecture ids) at a lower and a higher fidelity.

    >>> overlap = front_overlap({"a", "b", "c"}, {"b", "c", "d"})
    >>> overlap.kept, overlap.left, overlap.joined, overlap.jaccard
    (('b', 'c'), ('a',), ('d',), 0.5)
    >>> str(overlap)
    '2 of 3 kept, 1 new (Jaccard 0.50)'
    """
    low_set, high_set = set(low), set(high)
    return FrontOverlap(
        tuple(sorted(low_set & high_set)),
        tuple(sorted(low_set - high_set)),
        tuple(sorted(high_set - low_set)),
    )


@dataclass(frozen=True)
class Verdict:
    """The judgement of a ranking between two fidelities, and the line that says it."""

    level: Level
    line: str


def verdict(
    agreement: RankAgreement,
    *,
    low: str,
    high: str,
    seeds_low: float = math.nan,
    seeds_high: float = math.nan,
    front: FrontOverlap | None = None,
) -> Verdict:
    """One line a user can act on, by the thresholds in this module's docstring. ``low``
    and ``high`` name the fidelities (``"150 steps"``); ``seeds_*`` are seed reliabilities.

    >>> good = rank_agreement(range(12), [0, 2, 1, 3, 4, 5, 6, 7, 8, 10, 9, 11])
    >>> verdict(good, low="150 steps", high="600 steps").line
    'ranking stable: rho 0.99 [0.89, 1.00] over 12 architectures, 150 steps vs 600 steps'
    >>> bad = rank_agreement(range(8), [3, 7, 0, 5, 1, 6, 2, 4])
    >>> print(verdict(bad, low="150 steps", high="600 steps", seeds_low=0.4).line)
    do not trust this front: rho -0.05 [-0.80, 0.68] over 8 architectures, 150 steps vs 600 steps: the ranking changes with more training (and seeds disagree: seed-to-seed rho 0.40 at 150 steps); train longer or change the tasks before reading the front
    """
    rho = agreement.spearman
    n = agreement.n
    span = f"over {n} architectures, {low} vs {high}"
    if n < MIN_ARCHITECTURES:
        return Verdict(
            "insufficient",
            f"too few architectures to judge: {n} measured at both {low} and {high} (at "
            f"least {MIN_ARCHITECTURES}): check more (--architectures), or rerun to finish "
            "missing ones",
        )
    if math.isnan(rho.value):
        return Verdict(
            "unstable",
            f"do not trust this front: one fidelity ranks nothing (every architecture scores "
            f"the same) {span}; train longer or change the tasks",
        )
    noisy = [
        f"seed-to-seed rho {value:.2f} at {label}"
        for value, label in ((seeds_low, low), (seeds_high, high))
        if not math.isnan(value) and value < RELIABLE_SEEDS
    ]
    if rho.value < UNSTABLE_RHO or (not math.isnan(rho.low) and rho.low <= 0):
        also = f" (and seeds disagree: {'; '.join(noisy)})" if noisy else ""
        return Verdict(
            "unstable",
            f"do not trust this front: rho {rho} {span}: the ranking changes with more "
            f"training{also}; train longer or change the tasks before reading the front",
        )
    doubts = []
    if rho.value < STABLE_RHO:
        doubts.append(f"rho below {STABLE_RHO}")
    if not math.isnan(rho.low) and rho.low < STABLE_LOW:
        doubts.append(f"its interval reaches below {STABLE_LOW}")
    if noisy:
        doubts.append("seeds disagree: " + "; ".join(noisy))
    if front is not None and not math.isnan(front.jaccard) and front.jaccard < FRONT_KEPT:
        doubts.append(f"the front changed: {front}")
    if doubts:
        return Verdict(
            "uncertain",
            f"ranking uncertain: rho {rho} {span}; {', '.join(doubts)}: add architectures "
            "(--architectures) or seeds (--seeds), or train longer, before trusting the front",
        )
    return Verdict("stable", f"ranking stable: rho {rho} {span}")
