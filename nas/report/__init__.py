"""Study reports: one self-contained HTML page (and PNG files) per study.

The page holds, for one study of the database ``nas run`` writes:

- the Pareto front of capability against compute, hybrids, pure SSMs and pure attention
  marked apart, with a table of the front's trials;
- the best capability at each SSM:attention ratio, one line per SSM state size;
- capability against inference state bytes at a chosen context length;
- capability per task on the front;
- learning curves of trials spread along the front;
- parameter importances (``optuna.importance``), or why they could not be computed;
- the filler robustness gap (clean minus with-filler capability), where it was measured.

Figures are matplotlib PNGs embedded as ``data:`` URIs: the page opens offline and loads
nothing from the network.

Example:
    >>> from nas.db import Database
    >>> from nas.report import build_report
    >>> report = build_report(Database("sqlite:///quickstart.db"), "quickstart")  # doctest: +SKIP
    >>> report.write_html("report.html"); report.write_pngs("plots/")            # doctest: +SKIP
"""

from nas.report._report import Report, Section, build_report, parameter_importances

__all__ = ["Report", "Section", "build_report", "parameter_importances"]
