"""A small synthetic study for the report tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas.db.synthetic import write_synthetic


@pytest.fixture(scope="session")
def report_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("report") / "study.db"
    url = f"sqlite:///{path}"
    write_synthetic(url, n_trials=250, study_name="study", seed=5)
    return url


@pytest.fixture(scope="session")
def report_html(report_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report written once by the CLI, PNGs beside it."""
    from nas.cli import main

    out = tmp_path_factory.mktemp("html")
    assert main(["report", "study", "--storage", report_url, "-o", str(out / "report.html"),
                 "--png", str(out / "png")]) == 0  # fmt: skip
    return out / "report.html"
