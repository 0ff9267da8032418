"""The report's figures, each a function of query frames returning a matplotlib Figure.

Families are told apart everywhere the same way: hybrids as blue circles, pure SSMs as
green squares, pure attention as red triangles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

FAMILY_STYLE = {
    "hybrid": {"color": "#1f77b4", "marker": "o", "label": "hybrid"},
    "ssm": {"color": "#2ca02c", "marker": "s", "label": "pure SSM"},
    "attention": {"color": "#d62728", "marker": "^", "label": "pure attention"},
}
_SIZE = (7.5, 4.6)


def _figure(
    nrows: int = 1, ncols: int = 1, size: tuple[float, float] = _SIZE
) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=110, layout="constrained")
    return figure, figure.subplots(nrows, ncols, squeeze=False)


def pareto_front(
    trials: pd.DataFrame,
    front: pd.DataFrame,
    line: pd.DataFrame,
    x: str,
    y: str,
    x_log: bool = True,
) -> Figure:
    """Every complete architecture (faint), the study's front (bold, by family) and the front of
    ``y`` against ``x`` alone (the line; the same trials when these are the only objectives)."""
    figure, axes = _figure()
    ax = axes[0][0]
    size, alpha = (9, 0.18) if len(trials) > 500 else (24, 0.45)
    for family, style in FAMILY_STYLE.items():
        rows = trials[trials["family"] == family]
        if len(rows):
            ax.scatter(rows[x], rows[y], s=size, alpha=alpha, color=style["color"], marker=style["marker"],
                       linewidths=0, rasterized=True)  # fmt: skip
    ordered = line.sort_values(x)
    ax.step(ordered[x], ordered[y], where="post", color="0.25", linewidth=1.2, zorder=2)
    for family, style in FAMILY_STYLE.items():
        rows = front[front["family"] == family]
        ax.scatter(rows[x], rows[y], s=46, color=style["color"], marker=style["marker"],
                   edgecolors="black", linewidths=0.7, zorder=3,
                   label=f"{style['label']} ({len(rows)} on the front)")  # fmt: skip
    if x_log:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"Pareto front: {y} vs {x} (faint: every complete architecture)", fontsize=10)
    return figure


def capability_by_ratio(trials: pd.DataFrame, y: str) -> Figure:
    """Best ``y`` at each SSM:attention ratio, one line per d_state (pure attention apart)."""
    figure, axes = _figure()
    ax = axes[0][0]
    order = trials.groupby("ratio")["attention_fraction"].first().sort_values().index.tolist()
    position = {ratio: i for i, ratio in enumerate(order)}
    with_ssm = trials[trials["d_state"].notna()]
    for d_state, rows in sorted(with_ssm.groupby("d_state"), key=lambda item: item[0]):
        best = rows.groupby("ratio")[y].max()
        xs = [position[r] for r in best.index]
        ax.plot(*zip(*sorted(zip(xs, best.values, strict=True)), strict=True), marker="o",
                label=f"d_state {int(d_state)}")  # fmt: skip
    attention = trials[trials["family"] == "attention"]
    if len(attention):
        style = FAMILY_STYLE["attention"]
        best = attention.groupby("ratio")[y].max()
        ax.scatter([position[r] for r in best.index], best.values, s=60, color=style["color"],
                   marker=style["marker"], zorder=3, label="pure attention (no SSM state)")  # fmt: skip
    ax.set_xticks(range(len(order)), order)
    ax.set_xlabel("SSM:attention ratio (more attention to the right)")
    ax.set_ylabel(f"best {y}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncols=2)
    ax.set_title(f"best {y} per ratio and SSM state size", fontsize=10)
    return figure


def capability_by_state_bytes(trials: pd.DataFrame, y: str, context: int) -> Figure:
    """``y`` against the inference state (KV cache + SSM state) at ``context`` tokens."""
    figure, axes = _figure()
    ax = axes[0][0]
    for family, style in FAMILY_STYLE.items():
        rows = trials[trials["family"] == family]
        if len(rows):
            ax.scatter(rows["state_bytes_at_context"], rows[y], s=12, alpha=0.45, color=style["color"],
                       marker=style["marker"], linewidths=0, label=style["label"], rasterized=True)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel(f"state bytes at context {context:,} (bf16)")
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{y} vs inference state at {context:,} tokens", fontsize=10)
    return figure


def task_breakdown(front: pd.DataFrame, task_columns: Sequence[str]) -> Figure:
    """Capability per task of the front's trials (ordered by compute), grouped bars."""
    import numpy as np

    rows = front.head(16)
    figure, axes = _figure(size=(max(7.5, 0.55 * len(rows) + 3), 4.6))
    ax = axes[0][0]
    width = 0.8 / max(1, len(task_columns))
    xs = np.arange(len(rows))
    for index, column in enumerate(task_columns):
        ax.bar(
            xs + index * width, rows[column].astype(float), width, label=column.removeprefix("cap.")
        )
    labels = [
        f"#{n}\n{f[:3]} {r}"
        for n, f, r in zip(rows["number"], rows["family"], rows["ratio"], strict=True)
    ]
    ax.set_xticks(xs + width * (len(task_columns) - 1) / 2, labels, fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("capability")
    ax.legend(fontsize=8, ncols=min(3, len(task_columns)))
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("capability per task on the Pareto front (trial, family, ratio)", fontsize=10)
    return figure


def learning_curves(curves: pd.DataFrame, labels: Mapping[int, str]) -> Figure:
    """Capability against training tokens, one panel per task, one line per front trial."""
    tasks = list(dict.fromkeys(curves["task"]))
    figure, axes = _figure(1, len(tasks), size=(3.6 * len(tasks) + 1, 3.8))
    x = "tokens" if "tokens" in curves else "step"
    for ax, task in zip(axes[0], tasks, strict=True):
        for number, rows in curves[curves["task"] == task].groupby("number"):
            mean = rows.groupby(x)["capability"].mean()
            ax.plot(
                mean.index, mean.values, marker=".", label=labels.get(int(number), f"#{number}")
            )
        ax.set_title(task, fontsize=9)
        ax.set_xlabel(f"training {x}")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("capability")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    return figure


def importances(values: Mapping[str, float], target: str) -> Figure:
    """Horizontal bars of parameter importances (largest on top)."""
    names = list(values)[::-1]
    figure, axes = _figure(size=(7.5, 0.35 * len(names) + 1.4))
    ax = axes[0][0]
    ax.barh(names, [values[n] for n in names], color="#4c72b0")
    ax.set_xlabel(f"importance for {target}")
    ax.grid(axis="x", alpha=0.3)
    return figure


def filler_gap(trials: pd.DataFrame, gap_columns: Sequence[str]) -> Figure:
    """Capability lost to filler tokens (clean minus filler) against the attention share."""
    figure, axes = _figure(1, len(gap_columns), size=(5.0 * len(gap_columns) + 1, 4.0))
    for ax, column in zip(axes[0], gap_columns, strict=True):
        for family, style in FAMILY_STYLE.items():
            rows = trials[(trials["family"] == family) & trials[column].notna()]
            if len(rows):
                ax.scatter(rows["attention_fraction"], rows[column], s=12, alpha=0.45, color=style["color"],
                           marker=style["marker"], linewidths=0, label=style["label"], rasterized=True)  # fmt: skip
        mean = trials.groupby("attention_fraction")[column].mean()
        ax.plot(mean.index, mean.values, color="black", linewidth=1.2, label="mean")
        ax.axhline(0, color="0.5", linewidth=0.8)
        ax.set_xlabel("attention share of mixer layers")
        ax.set_ylabel("filler gap (clean - with filler)")
        ax.set_title(column.removeprefix("gap."), fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    return figure


def fidelity_scatter(panels: Sequence[tuple[str, pd.DataFrame, str, str]]) -> Figure:
    """Capability of each architecture at a lower fidelity (x) and a higher one (y), one
    panel per comparison ``(title, architectures, low, high)``; bars are standard errors
    over seeds, families marked as everywhere. A ranking that holds rises left to right."""
    figure, axes = _figure(1, len(panels), size=(min(5.0 * len(panels), 15.0), 4.4))
    for ax, (title, archs, low, high) in zip(axes[0], panels, strict=True):
        for family, style in FAMILY_STYLE.items():
            rows = archs[archs["family"] == family]
            if len(rows):
                ax.errorbar(rows["capability_low"], rows["capability_high"],
                            xerr=rows["sem_low"].fillna(0), yerr=rows["sem_high"].fillna(0),
                            fmt=style["marker"], color=style["color"], markersize=6,
                            markeredgecolor="black", markeredgewidth=0.5, elinewidth=0.8,
                            label=style["label"])  # fmt: skip
        ax.set_xlabel(f"capability at {low}")
        ax.set_ylabel(f"capability at {high}")
        ax.grid(alpha=0.3)
        ax.set_title(title, fontsize=9)
        ax.legend(loc="lower right", fontsize=7)
    return figure
