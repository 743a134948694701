"""Rendering: the context through the jinja2 templates into ``report.html`` and ``report.md``.

Model outputs (generated questions, predictions, raw teacher text) are untrusted and only ever reach the
HTML through jinja2's autoescaping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from seltda.core.fileio import atomic_write_bytes, atomic_write_text
from seltda.report.images import data_uri
from seltda.report.inputs import num
from seltda.report.sections import build_context
from seltda.run.layout import RunLayout

TEMPLATES = Path(__file__).parent / "templates"


def write_report(run_dir: Path, gallery_size: int = 12, examples: int = 8, seed: int = 0) -> dict[str, Path]:
    """Write ``run_dir/report.html`` and ``run_dir/report.md`` (plots for the latter in ``report_assets/``).

    Returns the written paths: ``"html"``, ``"markdown"`` and one ``"plot:<name>"`` per PNG asset.
    """
    layout = RunLayout(run_dir)
    if not layout.root.is_dir():
        raise FileNotFoundError(f"run folder {layout.root} does not exist")
    context, figures = build_context(layout.root, gallery_size=gallery_size, examples=examples, seed=seed)
    env = environment()
    written: dict[str, Path] = {}

    html_context = dict(context, plots={name: data_uri(png) for name, png in figures.items()})
    html = env.get_template("report.html.j2").render(html_context)
    written["html"] = atomic_write_text(layout.report_html, html)

    assets: dict[str, str] = {}
    for name, png in figures.items():
        path = atomic_write_bytes(layout.report_asset(name), png)
        written[f"plot:{name}"] = path
        assets[name] = path.relative_to(layout.root).as_posix()
    markdown = env.get_template("report.md.j2").render(dict(context, plots=assets))
    written["markdown"] = atomic_write_text(layout.report_md, markdown)
    return written


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=lambda name: bool(name) and not str(name).endswith(".md.j2"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = _fmt_num
    env.filters["signed"] = _fmt_signed
    env.filters["count"] = _fmt_count
    env.filters["metric"] = _fmt_metric
    env.filters["duration"] = _fmt_duration
    env.filters["cell"] = _md_cell
    return env


def _fmt_num(value: Any, digits: int = 2) -> str:
    number = num(value)
    return "–" if number is None else f"{number:.{digits}f}"


def _fmt_signed(value: Any, digits: int = 2) -> str:
    number = num(value)
    if number is None:
        return "–"
    return f"{value:+,d}" if isinstance(value, int) else f"{number:+.{digits}f}"


def _fmt_metric(value: Any) -> str:
    """Integers as counts, other numbers with 2 decimals (4 significant digits when tiny)."""
    number = num(value)
    if number is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,d}"
    return f"{number:.4g}" if 0 < abs(number) < 0.01 else f"{number:.2f}"


def _fmt_count(value: Any) -> str:
    number = num(value)
    return "–" if number is None else f"{int(number):,}"


def _fmt_duration(value: Any) -> str:
    seconds = num(value)
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _md_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: one line, pipes and HTML-ish brackets escaped."""
    text = " ".join(str(value).split())
    for char in ("\\", "|", "<", ">", "`", "*", "_", "[", "]"):
        text = text.replace(char, "\\" + char)
    return text
