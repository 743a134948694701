"""Open a generated report.html in headless Debian chromium (driven by Playwright) and screenshot it.

Needs the system chromium and the `playwright` Python package; it never downloads a browser. When either
is missing the test fails (not skips) and says how to install them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from report_run import make_run

from seltda.report import write_report

LOADED_WIDTHS = "els => els.map(e => e.complete ? e.naturalWidth : 0)"
INSTALL_HINT = (
    "install them with `bash scripts/install-chromium.sh` (Debian chromium, needs root or sudo) and "
    "`.venv/bin/pip install playwright` (part of the dev extras); never `playwright install`"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


def _chromium() -> str:
    for candidate in (os.environ.get("SELTDA_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(f"chromium not found (looked at /usr/bin/chromium and PATH): {INSTALL_HINT}", pytrace=False)


def open_in_chromium(report: Path, tmp_path: Path) -> dict:
    """Load `report` headless, collect console errors and what the checks need, save a screenshot."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"the `playwright` Python package is not installed: {INSTALL_HINT}", pytrace=False)
    executable = _chromium()
    screenshot = tmp_path / "report.png"
    errors: list[str] = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "chromium-profile"),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 900},
            offline=True,
        )
        try:
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            response = page.goto(report.as_uri(), wait_until="load")
            assert response is None or response.ok
            seen = {
                "accuracy_table": page.locator("#accuracy-table").is_visible(),
                "suites": page.locator("#suites").is_visible(),
                "suites_text": page.locator("#suites").inner_text()
                if page.locator("#suites").count()
                else "",
                "headline": page.locator("#headline-table").inner_text(),
                "plots": page.eval_on_selector_all("img.plot", LOADED_WIDTHS),
                "gallery": page.eval_on_selector_all(".gallery-item img", LOADED_WIDTHS),
                "rejected": page.locator(".gallery-item li.rejected").count(),
            }
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
    assert not errors, errors
    assert screenshot.stat().st_size > 10_000
    print(f"report screenshot: {screenshot}")
    return seen


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    seen = open_in_chromium(write_report(make_run(tmp_path))["html"], tmp_path)
    assert seen["accuracy_table"] and seen["suites"]
    assert len(seen["plots"]) >= 2 and all(w > 0 for w in seen["plots"]), seen["plots"]
    assert len(seen["gallery"]) == 3 and all(w > 0 for w in seen["gallery"]), seen["gallery"]
    assert seen["rejected"] == 2


def test_demo_report_renders_in_chromium(tiny_demo: dict, tmp_path: Path) -> None:
    """The report `seltda demo` writes: accuracy with its CI, plots, gallery, and the rephrasing suite."""
    seen = open_in_chromium(tiny_demo["out"] / "report.html", tmp_path)
    assert seen["accuracy_table"] and "95% CI" in seen["headline"]
    assert len(seen["plots"]) >= 3 and all(w > 0 for w in seen["plots"]), seen["plots"]
    assert seen["gallery"] and all(w > 0 for w in seen["gallery"]), seen["gallery"]
    assert seen["suites"] and "rephrasing" in seen["suites_text"]
