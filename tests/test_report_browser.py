"""Open a generated report.html in headless Debian chromium (driven by Playwright) and screenshot it.

Needs the system chromium and the `playwright` Python package; it never downloads a browser. When either
is missing the test fails (not skips) and says how to install them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_report import make_run

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


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"the `playwright` Python package is not installed: {INSTALL_HINT}", pytrace=False)
    executable = _chromium()
    report = write_report(make_run(tmp_path))["html"]
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

            assert page.locator("#accuracy-table").is_visible()
            assert page.locator("#suites").is_visible()
            plot_widths = page.eval_on_selector_all("img.plot", LOADED_WIDTHS)
            assert len(plot_widths) >= 2 and all(w > 0 for w in plot_widths), plot_widths
            gallery_widths = page.eval_on_selector_all(".gallery-item img", LOADED_WIDTHS)
            assert len(gallery_widths) == 3 and all(w > 0 for w in gallery_widths), gallery_widths
            assert page.locator(".gallery-item li.rejected").count() == 2
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()

    assert not errors, errors
    assert screenshot.stat().st_size > 10_000
    print(f"report screenshot: {screenshot}")
