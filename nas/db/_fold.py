"""One row per architecture: trials of the same architecture and state folded together.

A sampler may suggest an architecture it has already had (a grid whose pure-attention
points differ only in an unused d_state, TPE returning to a good point); the driver then
copies the first trial's outcome instead of training again. Counted as trials, such
copies inflate fronts and tables; folded, each architecture is one row and ``n_trials``
says how many trials it stands for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

N_TRIALS = "n_trials"
FOLD_KEYS = ("number", "state", "arch_hash")  # the columns folding reads


def fold(frame: pd.DataFrame, counted_in: pd.DataFrame | None = None) -> pd.DataFrame:
    """Keep the first trial (lowest number) of each (architecture, state), in ``frame``'s
    order, with ``n_trials``: how many trials of ``counted_in`` (default ``frame``) it
    stands for.

    A trial without an architecture (a plain Optuna trial, or one still being set up) is
    its own row. A failed and a complete trial of one architecture stay two rows: they
    are different outcomes, not copies.

    >>> import pandas as pd
    >>> trials = pd.DataFrame({"number": [0, 1, 2, 3], "state": ["COMPLETE"] * 3 + ["FAIL"],
    ...                        "arch_hash": ["a", "b", "a", "a"]})
    >>> fold(trials)[["number", "n_trials"]].values.tolist()
    [[0, 2], [1, 1], [3, 1]]
    """
    if frame.empty:
        return frame.assign(**{N_TRIALS: []}).astype({N_TRIALS: int})
    key = _key(frame)
    first = frame.groupby(key, sort=False)["number"].transform("min")
    keep = (frame["number"] == first).to_numpy()
    among = key if counted_in is None else _key(counted_in)
    counts = key[keep].map(among.value_counts()).fillna(1)
    return frame[keep].assign(**{N_TRIALS: counts.astype(int)})


def _key(frame: pd.DataFrame) -> pd.Series:
    """Architecture and state of each row; a row without an architecture is its own key."""
    alone = "#" + frame["number"].astype(str)
    key = frame["arch_hash"].astype(object).where(frame["arch_hash"].notna(), alone)
    return key.astype(str) + "|" + frame["state"].astype(str)
