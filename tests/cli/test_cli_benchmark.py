"""`seltda benchmark CONFIG.yaml` prints the table and writes benchmark.json, benchmark.md and report.html."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from seltda.cli import app
from seltda.core.records import Record, write_records
from seltda.run.artifacts import Benchmark

runner = CliRunner()


def test_benchmark_command_writes_the_three_files(tmp_path: Path) -> None:
    records = [
        Record(
            question_id=f"q{i}",
            image=f"{i // 2}.png",
            question="what color is it?",
            answers=["red"],
            group_id=f"g{i // 2}",
            flags=["negation"] if i < 2 else [],
        )
        for i in range(8)
    ]
    run = tmp_path / "run"
    run.mkdir()
    write_records(run / "test.jsonl", records)
    for name, right in (("baseline", 3), ("student", 6)):
        rows = [{"question_id": f"q{i}", "answer": "red" if i < right else "blue"} for i in range(8)]
        (run / f"{name}.json").write_text(json.dumps(rows), encoding="utf-8")
    config = tmp_path / "bench.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "models": [
                    {"name": name, "predictions": {"test": f"{name}.json"}}
                    for name in ("baseline", "student")
                ],
                "sets": [{"name": "test", "data": "test.jsonl"}],
                "out": "bench",
            }
        )
    )

    result = runner.invoke(app, ["benchmark", str(config), "--root", str(run)])
    assert result.exit_code == 0, result.output
    assert "+37.50 [" in result.output  # the gain: 6/8 - 3/8
    assert "test questions only" in result.output
    out = run / "bench"
    table = Benchmark.read(out / "benchmark.json")
    assert [row.figure for row in table.rows] == [
        "accuracy",
        "rephrasing CS(1)",
        "rephrasing CS(2)",
        "flag:negation",
    ]
    markdown = (out / "benchmark.md").read_text()
    assert "| test | accuracy (exact) | 8 questions | 37.50 | 75.00 | +37.50 [" in markdown
    assert "Intervals cover: test questions only" in markdown
    html = (out / "report.html").read_text()
    assert 'id="benchmark-table"' in html and "rephrasing CS(2)" in html and "--good" in html
    assert "student − baseline" in html and "test questions only" in html

    again = runner.invoke(app, ["benchmark", str(config), "--root", str(run)])
    assert again.exit_code == 0 and "baseline on test: reused" in again.output


def test_benchmark_command_reports_a_bad_config_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bench.yaml"
    config.write_text("models: []\nsets: []\nout: x\n")
    result = runner.invoke(app, ["benchmark", str(config)])
    assert result.exit_code == 2
    assert f"{config}: field 'models'" in result.output and "Traceback" not in result.output
