"""nas report: a self-contained page with every section, PNGs, and a real browser render."""

from __future__ import annotations

import os
import re
import shutil
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


@pytest.fixture(scope="module")
def chromium() -> str:
    """The system's Chromium (Debian: apt-get install chromium; .ci/setup installs it). CI
    must have it: there a missing browser fails the test rather than skipping it."""
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} not found: .ci/setup installs it (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not found (Debian: apt-get install chromium)")
    return found


# Chromium's flags for a quiet, offline, throw-away run (besides Playwright's own).
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
VIEWPORTS = {"desktop": {"width": 1200, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.mark.slow
@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_renders_in_headless_chromium(
    report_html: Path, tmp_path: Path, chromium: str, viewport: str
) -> None:
    """Chromium loads the page offline: every figure decodes and shows, nothing fails to load,
    the console stays clean, and the page fits the screen's width (a phone's too). The
    screenshot is left in the test's temp folder for a person to look at."""
    import matplotlib.image
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    shot = tmp_path / f"report-{viewport}.png"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=chromium, headless=True,
            args=BROWSER_FLAGS, viewport=VIEWPORTS[viewport], offline=True,
        )  # fmt: skip
        try:
            page = context.new_page()
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)  # fmt: skip
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url[:80]}"))
            page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url[:80]}")
                    if r.status >= 400 else None)  # fmt: skip
            page.goto(report_html.as_uri(), wait_until="load")
            images = page.eval_on_selector_all(
                "img", "all => all.map(i => [i.alt, i.complete, i.naturalWidth, i.clientWidth])"
            )
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            page.screenshot(path=str(shot), full_page=True)
        finally:
            context.close()
    assert problems == []
    assert len(images) == len(SECTIONS)
    assert all(done and natural > 0 and shown > 0 for _, done, natural, shown in images), images
    assert overflow <= 0, f"the page is {overflow} px wider than a {viewport} screen"
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[1] == VIEWPORTS[viewport]["width"]
    # Plots put colour on the page: many pixels far from white and from grey.
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    assert (saturation > 0.3).mean() > 0.001  # a blank or text-only page has none
    assert (pixels.mean(axis=2) < 0.9).mean() > 0.02


def test_front_and_legend_count_architectures(report_url: str) -> None:
    """A sampler's repeats of an architecture are one point, one table row, one count."""
    db = Database(report_url)
    front = db.pareto("study")
    assert front["n_trials"].sum() > len(front)  # the synthetic sampler revisits architectures
    report = build_report(db, "study")
    assert report.summary["Pareto front"].startswith(f"{len(front)} architectures (")
    legend = report.sections[0].figure.axes[0].get_legend()
    counts = [
        int(re.search(r"\((\d+) on the front\)", t.get_text())[1]) for t in legend.get_texts()
    ]
    assert sum(counts) == len(front)
    faint = report.sections[0].figure.axes[0].collections[: len(counts)]
    points = sum(len(c.get_offsets()) for c in faint if c.get_alpha() and c.get_alpha() < 1)
    assert points == len(db.trials("study", where="state == 'COMPLETE'", by_architecture=True))
    assert "<th>trials</th>" in (report.sections[0].table or "")
