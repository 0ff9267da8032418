"""Gathering a study's frames, drawing the figures and writing the HTML page."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.errors import UserError
from nas.report import _plots as plots

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from nas.db import Database

_IMPORTANCE_SAMPLE = 2000  # complete trials given to optuna.importance (it is slow on more)
_FRONT_CURVES = 8  # learning curves drawn: this many front trials, spread over the front


@dataclass
class Section:
    """One part of the report: a title, a sentence saying how to read it, and a figure
    (or, when there is nothing to draw, a note saying why)."""

    key: str
    title: str
    caption: str
    figure: Figure | None = None
    note: str | None = None
    table: str | None = None


@dataclass
class Report:
    study: str
    storage: str
    summary: dict[str, Any]
    sections: list[Section] = field(default_factory=list)

    def write_html(self, path: str | Path) -> Path:
        """Write one self-contained page: figures inline as PNG, no external resource."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_page(self), encoding="utf-8")
        return path

    def write_pngs(self, directory: str | Path) -> list[Path]:
        """Write each figure as ``<key>.png`` in ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for section in self.sections:
            if section.figure is not None:
                target = directory / f"{section.key}.png"
                section.figure.savefig(target, dpi=130)
                written.append(target)
        return written


def build_report(db: Database, study: str, context: int | None = None) -> Report:
    """Query ``study`` and draw every figure of the report (see :mod:`nas.report`)."""
    objectives = db.objectives(study)
    available = set(db.summary_columns(study))
    if "family" not in available:
        raise UserError(
            f"study {study!r} has no nas architecture rows: a report needs a study written by `nas run`"
        )
    y = next((n for n, d in objectives.items() if d == "maximize"), None) or "capability"
    if y not in available:
        raise UserError(f"study {study!r} has no {y!r} column to report on")
    x = next((n for n, d in objectives.items() if d == "minimize"), "train_flops_per_token")
    task_columns = [c for c in db.columns(study) if c.startswith("cap.")]
    gap_columns = [c for c in db.columns(study) if c.startswith("gap.")]
    wanted = ["n_trials", "state", y, x, "family", "ratio", "attention_fraction", "d_state",
              "layout", "arch_hash", "spec_json", "state_bytes", "context", "params", "fidelity",
              *task_columns, *gap_columns]  # fmt: skip
    wanted = list(dict.fromkeys(wanted))
    # One point per architecture: a sampler's repeats are one model trained once.
    trials = db.trials(study, columns=wanted, where="state == 'COMPLETE'", by_architecture=True)
    if trials.empty:
        raise UserError(f"study {study!r} has no complete trial yet: nothing to report")
    front = db.pareto(study, columns=wanted)
    line = db.pareto(study, objectives={y: "maximize", x: "minimize"}, columns=wanted)
    stored_context = (
        int(trials["context"].dropna().iloc[0]) if trials["context"].notna().any() else None
    )
    context = context or stored_context or 8192
    trials["state_bytes_at_context"] = _state_bytes(trials, context, stored_context)

    summary = db.studies().set_index("study").loc[study].to_dict()
    report = Report(study=study, storage=db.masked_url, summary={
        "trials": summary["n_trials"], "complete": summary["complete"], "pruned": summary["pruned"],
        "failed": summary["fail"], "running": summary["running"],
        "architectures": f"{len(trials)} complete ({int(trials['n_trials'].sum())} trials)",
        "objectives": summary["objectives"],
        "Pareto front": f"{_count(len(front), 'architecture')} ({_family_counts(front)})",
    })  # fmt: skip
    others = [n for n in objectives if n not in (x, y)]
    beyond = (
        f" The study also minimises or maximises {', '.join(others)}: bold points are its front over "
        f"every objective, the line the front of {y} against {x} alone."
        if others
        else ""
    )
    report.sections.append(Section(
        "pareto", "Pareto front",
        f"Each architecture with a complete trial is a faint point; those no other beats (more {y} "
        f"for less {x}) are drawn bold and joined by a line. Hybrids are blue circles, pure SSMs "
        f"green squares, pure attention red triangles.{beyond}",
        plots.pareto_front(trials, front, line, x, y, x_log=bool((trials[x] > 0).all())),
        table=_front_table(
            front, ["n_trials", *objectives, "family", "ratio", "d_state", "layout", *task_columns]
        ),
    ))  # fmt: skip
    report.sections.append(Section(
        "ratio_by_d_state", f"{y} against the SSM:attention ratio, per d_state",
        f"The best {y} reached at each ratio, one line per SSM state size; pure attention has no "
        "SSM state and is marked apart.",
        plots.capability_by_ratio(trials, y),
    ))  # fmt: skip
    report.sections.append(Section(
        "state_bytes", f"{y} against inference state at context {context:,}",
        "State bytes are what a model keeps per sequence while decoding: the KV cache of its "
        "attention layers plus the recurrent and convolution state of its SSM layers "
        "(nas.compute.state_bytes, bf16).",
        plots.capability_by_state_bytes(trials, y, context),
    ))  # fmt: skip
    if task_columns:
        report.sections.append(Section(
            "tasks", "Capability per task",
            "Capability on each task of the trials on the Pareto front, cheapest first.",
            plots.task_breakdown(front.sort_values(x), task_columns),
        ))  # fmt: skip
    report.sections.append(_fidelity_section(db, study))
    report.sections.append(_curves_section(db, study, front, x))
    report.sections.append(_importance_section(db, study, y))
    with_gap = [c for c in gap_columns if trials[c].notna().any()]
    if with_gap:
        report.sections.append(Section(
            "filler_gap", "Filler robustness gap",
            "Capability lost when filler tokens are inserted (clean capability minus capability "
            "with filler), against the share of attention layers; the line is the mean.",
            plots.filler_gap(trials, with_gap),
        ))  # fmt: skip
    else:
        report.sections.append(Section(
            "filler_gap", "Filler robustness gap", "",
            note="Not measured: the study has no task with filler tokens (e.g. mqar:filler=2).",
        ))  # fmt: skip
    return report


def _state_bytes(trials: pd.DataFrame, context: int, stored: int | None) -> Any:
    """State bytes at ``context``: stored ones when the study used that context, else
    computed with nas.compute for each distinct architecture."""
    if stored == context:
        return trials["state_bytes"].astype(float)
    from nas.arch import ArchSpec
    from nas.compute import state_bytes

    per_arch = {
        arch_hash: state_bytes(ArchSpec.from_json(spec), context)
        for arch_hash, spec in trials.drop_duplicates("arch_hash")[
            ["arch_hash", "spec_json"]
        ].itertuples(index=False)
        if isinstance(spec, str)
    }
    return trials["arch_hash"].map(per_arch).astype(float)


def _fidelity_section(db: Database, study: str) -> Section:
    """How far the ranking holds at a longer budget (``nas fidelity``) or between the
    study's multi-fidelity levels, as ``nas db fidelity`` reads it."""
    import pandas as pd

    title = "Proxy validity: does the ranking hold with more training?"
    try:
        results = db.fidelity(study)
    except UserError:
        return Section("fidelity", title, "", note=(
            "Not checked: `nas fidelity STUDY.yaml` trains these architectures at 4x the budget "
            "and measures whether their ranking holds. Until then, treat the front as a proxy's."
        ))  # fmt: skip
    panels = [(f"{r.low} vs {r.high}: rho {r.rows.iloc[0]['spearman']:.2f}", r.architectures,
               r.low, r.high) for r in results[:3]]  # fmt: skip
    rows = pd.concat([
        r.rows.assign(comparison=f"{r.low} vs {r.high}")[["comparison", "target", "n", "spearman",
            "spearman_low", "spearman_high", "kendall", "seeds_low", "seeds_high", "verdict"]]
        for r in results
    ], ignore_index=True)  # fmt: skip
    return Section(
        "fidelity", title,
        "Each architecture's capability (mean over seeds, bars: standard error) at the study's "
        "budget or a lower fidelity level (x) against a longer budget or the next level (y). "
        "Spearman rho and Kendall tau between the two rankings carry bootstrap 95% intervals "
        "(spearman_low..spearman_high); seeds_low/high is the seed-to-seed rank agreement at "
        "each. The verdict: stable (rho >= 0.8, interval above 0.5, seeds and front agree), "
        "uncertain, or unstable (rho < 0.5 or an interval reaching 0): do not trust the front.",
        plots.fidelity_scatter(panels),
        note=" · ".join(r.verdict.line for r in results),
        table=rows.to_html(index=False, border=0, float_format=lambda v: f"{v:.3g}",
                           classes="front", escape=True),
    )  # fmt: skip


def _curves_section(db: Database, study: str, front: pd.DataFrame, x: str) -> Section:
    ordered = front.sort_values(x)
    step = max(1, len(ordered) // _FRONT_CURVES)
    chosen = ordered.iloc[::step].head(_FRONT_CURVES)
    curves = db.curves(study, numbers=chosen["number"].tolist())
    title = "Learning curves"
    if curves.empty or "capability" not in curves:
        return Section(
            "curves", title, "", note="No learning curves were recorded for the front's trials."
        )
    labels = {
        int(r.number): f"#{r.number} {r.family} {r.ratio}" for r in chosen.itertuples(index=False)
    }
    return Section(
        "curves", title,
        f"Capability during training of {len(chosen)} trials spread along the Pareto front "
        "(mean over seeds), at the fidelity each was trained to.",
        plots.learning_curves(curves, labels),
    )  # fmt: skip


def _importance_section(db: Database, study: str, target: str) -> Section:
    title = "Parameter importances"
    try:
        values, method = parameter_importances(db, study, target)
    except Exception as error:  # optuna raises several kinds when it cannot compute them
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return Section("importances", title, "", note=f"Could not be computed: {reason}")
    return Section(
        "importances", title,
        f"How much each search-space parameter explains {target} ({method}, on up to "
        f"{_IMPORTANCE_SAMPLE:,} complete trials).",
        plots.importances(values, target),
    )  # fmt: skip


def parameter_importances(db: Database, study: str, target: str) -> tuple[dict[str, float], str]:
    """optuna.importance over the study's parameters, for ``target``; (values, method).

    The complete trials (a fixed sample of at most 2,000) are handed to an in-memory
    Optuna study with their parameter distributions, which is much faster than loading
    a large study through its storage.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {
        name: optuna.distributions.json_to_distribution(text)
        for name, text in db.param_distributions(study).items()
    }
    if not distributions:
        raise UserError("the study's trials have no parameters")
    columns = [f"params_{name}" for name in distributions]
    frame = db.trials(study, columns=[target, *columns], where="state == 'COMPLETE'")
    frame = frame[frame[target].notna()]
    if len(frame) > _IMPORTANCE_SAMPLE:
        frame = frame.sample(_IMPORTANCE_SAMPLE, random_state=0)
    if len(frame) < 2:
        raise UserError("fewer than 2 complete trials")
    trials = []
    for row in frame.itertuples(index=False):
        values = dict(zip([target, *columns], row[1:], strict=True))
        params = {
            name: _python(values[f"params_{name}"])
            for name in distributions
            if values[f"params_{name}"] is not None
            and str(values[f"params_{name}"]) not in ("nan", "<NA>")
        }
        trials.append(optuna.trial.create_trial(
            params=params, distributions={n: distributions[n] for n in params}, value=float(values[target]),
        ))  # fmt: skip
    memory = optuna.create_study(direction="maximize")
    memory.add_trials(trials)
    values = optuna.importance.get_param_importances(memory)
    return dict(values), "optuna.importance.get_param_importances (PED-ANOVA)"


def _python(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _family_counts(front: pd.DataFrame) -> str:
    counts = front["family"].value_counts()
    return ", ".join(
        f"{counts.get(f, 0)} {plots.FAMILY_STYLE[f]['label']}" for f in plots.FAMILY_STYLE
    )


def _front_table(front: pd.DataFrame, columns: list[str]) -> str:
    shown = front[[c for c in ["number", *columns] if c in front]].head(40)
    shown = shown.rename(columns={"number": "trial", "n_trials": "trials"})
    table = shown.to_html(
        index=False, border=0, float_format=lambda v: f"{v:.4g}", classes="front", escape=True
    )
    return f"<div class='scroll'>{table}</div>"  # a phone scrolls the table, not the page


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


_STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.meta { color: #666; font-size: 0.9em; } p.caption { color: #444; font-size: 0.92em; }
table { border-collapse: collapse; font-size: 0.85em; } td, th { padding: 2px 8px; text-align: right; }
th { border-bottom: 1px solid #999; } tr:nth-child(even) { background: #f6f6f6; }
table.summary td:first-child { text-align: left; font-weight: 600; }
img { max-width: 100%; height: auto; } .note { color: #8a5a00; background: #fff7e0; padding: 0.6em; }
.scroll { overflow-x: auto; } nav p { line-height: 1.8; } .meta { overflow-wrap: anywhere; }
"""


def _page(report: Report) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(str(k))}</td><td style='text-align:left'>{esc(str(v))}</td></tr>"
        for k, v in report.summary.items()
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>nas report: {esc(report.study)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Study <code>{esc(report.study)}</code></h1>",
        f"<p class='meta'>{esc(report.storage)} &middot; generated "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by nas</p>",
        f"<div class='scroll'><table class='summary'>{rows}</table></div>",
        "<nav><p>"
        + " &middot; ".join(f"<a href='#{s.key}'>{esc(s.title)}</a>" for s in report.sections)
        + "</p></nav>",
    ]
    for section in report.sections:
        parts.append(f"<section id='{section.key}'><h2>{esc(section.title)}</h2>")
        if section.caption:
            parts.append(f"<p class='caption'>{esc(section.caption)}</p>")
        if section.figure is not None:
            parts.append(
                f"<img alt='{esc(section.title)}' src='data:image/png;base64,{_png(section.figure)}'>"
            )
        if section.note:
            parts.append(f"<p class='note'>{esc(section.note)}</p>")
        if section.table:
            parts.append(section.table)
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
