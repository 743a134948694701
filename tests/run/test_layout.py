"""The run folder's layout and its typed artifacts (shape on disk kept)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from seltda.run.artifacts import Comparison, Evaluation, RoundSummary, RunMetrics, Scores, StageRecord
from seltda.run.layout import CurveLayout, RunLayout
from seltda.run.stage import STAGE_FILE, read_stage, stage_complete, write_stage


def test_run_layout_names_every_path(tmp_path):
    run = RunLayout(tmp_path / "run")
    root = tmp_path / "run"
    assert run.config == root / "config.yaml" and run.env == root / "env.json"
    assert run.metrics == root / "metrics.json" and run.base == root / "base"
    assert (run.baseline, run.teacher, run.student) == (root / "baseline", root / "teacher", root / "student")
    assert run.baseline_eval == root / "eval" / "baseline.json"
    assert (
        run.student_eval == root / "eval" / "student.json" and run.compare == root / "eval" / "compare.json"
    )
    assert run.pseudolabels == root / "pseudolabels"
    assert run.pseudolabel_dataset == root / "pseudolabels" / "dataset"
    assert (run.report_html, run.report_md) == (root / "report.html", root / "report.md")
    assert run.report_asset("funnel") == root / "report_assets" / "funnel.png"
    assert list(run.trained()) == ["teacher", "baseline", "student"]


def test_rounds_live_in_the_run_folder_then_in_round_folders(tmp_path):
    run = RunLayout(tmp_path)
    first, second = run.round(1), run.round(2)
    assert first.root == tmp_path and first.suffix == "" and first.student == run.student
    assert second.root == tmp_path / "round2" and second.suffix == "_round2"
    assert second.student_eval == tmp_path / "round2" / "eval" / "student.json"
    assert second.compare == tmp_path / "round2" / "eval" / "compare.json"
    assert second.teacher == tmp_path / "round2" / "teacher"
    with pytest.raises(ValueError):
        run.round(0)


def test_curve_points(tmp_path):
    curve = CurveLayout(tmp_path)
    point = curve.point(0.25, 3)
    assert isinstance(point, RunLayout) and point.root == tmp_path / "fraction-0.25" / "seed-3"
    assert curve.point(1.0, 0).root == tmp_path / "fraction-1" / "seed-0"
    assert (curve.json, curve.markdown, curve.plot) == (
        tmp_path / "curve.json",
        tmp_path / "curve.md",
        tmp_path / "curve.png",
    )


class _Config(BaseModel):
    lr: float = 1e-3
    data: Path = Path("train.jsonl")


def test_stage_record_round_trip_keeps_extras_in_order(tmp_path):
    write_stage(tmp_path, "teacher", _Config(), {"steps": 4}, synthetic_file=Path("/x/p.jsonl"))
    assert stage_complete(tmp_path)
    on_disk = json.loads((tmp_path / STAGE_FILE).read_text())
    assert list(on_disk) == ["stage", "config", "metrics", "env", "synthetic_file"]
    assert on_disk["config"] == {"lr": 1e-3, "data": "train.jsonl"}
    record = read_stage(tmp_path)
    assert isinstance(record, StageRecord) and record.stage == "teacher"
    assert record["metrics"] == {"steps": 4} and record["synthetic_file"] == "/x/p.jsonl"
    assert record.extras == {"synthetic_file": "/x/p.jsonl"}
    with pytest.raises(KeyError):
        record["nope"]


def test_metrics_keep_the_keys_the_writer_set(tmp_path):
    metrics = RunMetrics(pseudolabels={"images": None, "funnel": {"generated": 3}, "drops": {}})
    metrics.rounds = [RoundSummary(round=1, folder="r", accuracy=None, gain=None, pseudolabel_accuracy=None)]
    metrics.timings_seconds = {"base": 0.5}
    metrics.write(tmp_path / "metrics.json")
    text = (tmp_path / "metrics.json").read_text()
    assert json.loads(text) == {
        "pseudolabels": {"images": None, "funnel": {"generated": 3}, "drops": {}},
        "rounds": [{"round": 1, "folder": "r", "accuracy": None, "gain": None, "pseudolabel_accuracy": None}],
        "timings_seconds": {"base": 0.5},
    }
    assert RunMetrics.read(tmp_path / "metrics.json").to_json() == json.loads(text)
    assert not metrics.evaluated


def test_evaluation_summary_and_answers(tmp_path):
    evaluation = Evaluation(
        model="m",
        data="d.jsonl",
        accuracy=50.0,
        metric="vqa",
        exact_match=50.0,
        warnings=[],
        n=2,
        missing=0,
        per_question_type={},
        per_answer_type={},
        per_question={"a": 100.0, "b": 0.0},
        suites={},
        predictions=[{"question_id": "a", "answer": "red"}, {"question_id": "b", "answer": "x"}],
    )
    evaluation.write(tmp_path / "e.json")
    on_disk = json.loads((tmp_path / "e.json").read_text())
    assert list(on_disk)[:3] == ["model", "data", "accuracy"] and "seconds" not in on_disk
    assert Evaluation.read(tmp_path / "e.json").answers() == {"a": "red", "b": "x"}
    assert evaluation.summary() == Scores(
        accuracy=50.0,
        metric="vqa",
        exact_match=50.0,
        warnings=[],
        n=2,
        missing=0,
        per_question_type={},
        per_answer_type={},
    )
    assert list(evaluation.summary().model_dump(exclude_unset=True)) == list(Scores.model_fields)
    gain = Comparison(diff=1.0, ci_low=-1.0, ci_high=3.0)
    assert gain.to_json() == {"diff": 1.0, "ci_low": -1.0, "ci_high": 3.0}
