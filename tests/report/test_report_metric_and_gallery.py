"""What the report says about a run's metric, exact match, disagreements and kept pairs, built from the
artifacts the stages write (records through `write_records`, evaluations as `Evaluation`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from report_run import make_run

from seltda.core.records import Provenance, Record, write_records
from seltda.report import build_context, write_report
from seltda.run.layout import RunLayout
from seltda.run.pseudolabels import PseudoLabelFolder


def _set_metric(run: Path, metric: str, exact: float) -> None:
    layout = RunLayout(run)
    for path in (layout.baseline_eval, layout.student_eval):
        data = json.loads(path.read_text(encoding="utf-8"))
        data.update(metric=metric, exact_match=exact)
        path.write_text(json.dumps(data), encoding="utf-8")
    metrics = json.loads(layout.metrics.read_text(encoding="utf-8"))
    for arm in ("baseline", "seltda"):
        metrics[arm].update(metric=metric, exact_match=exact)
    layout.metrics.write_text(json.dumps(metrics), encoding="utf-8")


def test_headline_names_the_metric_and_shows_exact_match(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    _set_metric(run, "exact", 41.25)
    written = write_report(run)
    html = written["html"].read_text(encoding="utf-8")
    headline = html.split('id="headline"')[1].split("</section>")[0]
    assert "exact-match accuracy, %" in headline and "VQA accuracy" not in headline
    assert "exact match (%)" in headline and "41.25" in headline
    markdown = written["markdown"].read_text(encoding="utf-8")
    assert "| arm | exact-match accuracy (%) | exact match (%) |" in markdown
    assert "| baseline (real data) | 69.75 | 41.25 |" in markdown


def test_headline_of_a_vqa_run_says_vqa_accuracy(tmp_path: Path) -> None:
    context, _ = build_context(make_run(tmp_path))
    assert context["headline"]["metric_label"] == "VQA accuracy"


def test_disagreements_count_partial_credit_scores(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    layout = RunLayout(run)
    for path, scores in (
        (layout.baseline_eval, {"q0": 0.0, "q1": 33.33, "q2": 66.67, "q3": 30.0}),
        (layout.student_eval, {"q0": 33.33, "q1": 0.0, "q2": 100.0, "q3": 30.0}),
    ):  # one answer per row: VQA accuracy never reaches 100 on most questions
        data = json.loads(path.read_text(encoding="utf-8"))
        data["per_question"] = scores
        path.write_text(json.dumps(data), encoding="utf-8")
    examples = build_context(run)[0]["examples"]
    assert (examples["n_wins"], examples["n_losses"], examples["n_common"]) == (2, 1, 4)
    assert {e["question_id"] for e in examples["wins"]} == {"q0", "q2"}
    assert [e["question_id"] for e in examples["losses"]] == ["q1"]


def test_gallery_counts_kept_pairs_written_by_the_stage(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    folder = PseudoLabelFolder(RunLayout(run).pseudolabels)
    kept = [
        Record(
            question_id=f"syn-{i}",
            image="pool/0.png",
            question=f"question {i}?",
            answers=["red"],
            source="synthetic",
            provenance=Provenance(teacher="t", score=-0.1, sample_index=i, raw_text="q"),
        )
        for i in range(2)
    ]
    write_records(folder.records, kept)
    html = write_report(run, gallery_size=12)["html"].read_text(encoding="utf-8")
    names = dict((m.group(1), m.group(2)) for m in re.finditer(r'class="name">([^ ]+) · ([^<]*)<', html))
    assert names["pool/0.png"] == "2 kept, 1 rejected" and names["pool/2.png"] == "0 kept, 1 rejected"
    assert "1 of the pool's images have kept pairs" in html
