"""nas report: a self-contained page with every section, PNGs, and a real browser render."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from nas.db import Database
from nas.report import build_report

SECTIONS = (
    "pareto",
    "ratio_by_d_state",
    "state_bytes",
    "tasks",
    "curves",
    "importances",
    "filler_gap",
)
CHROMIUM = "/usr/bin/chromium"


def test_page_has_every_section_with_an_inline_figure(report_html: Path) -> None:
    page = report_html.read_text()
    for key in SECTIONS:
        section = page.split(f"<section id='{key}'>")[1].split("</section>")[0]
        assert "<img" in section and "data:image/png;base64," in section, key
    assert "pure SSM" in page and "pure attention" in page and "hybrid" in page
    assert "Could not be computed" not in page


def test_page_loads_nothing_from_elsewhere(report_html: Path) -> None:
    page = report_html.read_text()
    sources = re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]+)""", page)
    assert sources and all(s.startswith(("data:", "#")) for s in sources)
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_png_directory_has_one_file_per_figure(report_html: Path) -> None:
    written = {p.stem for p in (report_html.parent / "png").glob("*.png")}
    assert written == set(SECTIONS)
    assert all(
        (report_html.parent / "png" / f"{k}.png").read_bytes()[:4] == b"\x89PNG" for k in SECTIONS
    )


def test_state_bytes_at_another_context_are_computed(report_url: str) -> None:
    """At a context the study did not store, state bytes come from nas.compute per architecture."""
    from nas.arch import ArchSpec
    from nas.compute import state_bytes

    report = build_report(Database(report_url), "study", context=1024)
    assert "context 1,024" in report.sections[2].title
    frame = Database(report_url).trials(
        "study", columns=["spec_json", "state_bytes", "context"], limit=1
    )
    spec = ArchSpec.from_json(frame["spec_json"].iloc[0])
    assert (
        state_bytes(spec, 1024) != frame["state_bytes"].iloc[0]
    )  # so the test can tell them apart


def test_importances_explain_why_when_they_cannot_be_computed(report_url: str, monkeypatch) -> None:
    monkeypatch.setattr(Database, "param_distributions", lambda self, study: {})
    report = build_report(Database(report_url), "study")
    section = next(s for s in report.sections if s.key == "importances")
    assert section.figure is None and "no parameters" in (section.note or "")


def test_report_of_unknown_study_exits_2(report_url: str, tmp_path: Path, capsys) -> None:
    from nas.cli import main

    assert main(["report", "studdy", "--storage", report_url, "-o", str(tmp_path / "r.html")]) == 2
    assert "did you mean 'study'" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


@pytest.mark.slow
@pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not found (Debian: apt-get install chromium)"
)
def test_renders_in_headless_chromium(report_html: Path, tmp_path: Path) -> None:
    """Chromium loads the page offline and paints the figures (not a blank page)."""
    import matplotlib.image

    shot = tmp_path / "shot.png"
    profile = tempfile.mkdtemp()
    try:
        subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--window-size=1200,2400", f"--screenshot={shot}",
             report_html.as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2400, 1200)
    # Plots put colour on the page: many pixels far from white and from grey.
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    assert (saturation > 0.3).mean() > 0.001  # a blank or text-only page has none
    assert (pixels.mean(axis=2) < 0.9).mean() > 0.02
