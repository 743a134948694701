"""`seltda report` on a folder that is not a run: one line, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

from report_run import make_run
from typer.testing import CliRunner

from seltda.cli.app import app
from seltda.run.layout import CurveLayout, RunLayout, is_run_folder


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello", encoding="utf-8")
    result = CliRunner().invoke(app, ["report", str(folder)], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        f"error: {folder} is not a seltda run folder (no config.yaml / metrics.json / curve.json)"
    ]
    assert not RunLayout(folder).report_html.exists() and not RunLayout(folder).report_md.exists()
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "nope")], env={"COLUMNS": "300"})
    assert missing.exit_code == 2 and "is not a seltda run folder" in missing.output


def test_run_and_curve_folders_are_recognised(tmp_path: Path) -> None:
    assert not is_run_folder(tmp_path)
    CurveLayout(tmp_path).json.write_text("{}", encoding="utf-8")
    assert is_run_folder(tmp_path)
    run = make_run(tmp_path / "made")
    assert is_run_folder(run)
    result = CliRunner().invoke(app, ["report", str(run)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert RunLayout(run).report_html.is_file()
