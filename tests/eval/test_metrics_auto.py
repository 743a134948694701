"""`auto` and exact match: single-answer test sets scored so that a right answer counts, with a warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seltda.core.fileio import SeltdaInputError
from seltda.core.records import Record, write_records
from seltda.eval.metrics import score_predictions
from seltda.eval.scorers import METRIC_NAMES, choose_metric
from seltda.formats.table import read_table
from seltda.stages.evaluate import score

_OFFICIAL_SCORES = Path(__file__).parent.parent / "data" / "vqa_official_scores.json"


def rec(qid: str, answers: list[str], **kw) -> Record:
    return Record(question_id=qid, image="a.png", question="q?", answers=answers, **kw)


def test_metric_names() -> None:
    assert METRIC_NAMES == ("auto", "vqa", "exact", "aokvqa", "aokvqa-mc")


def test_single_answer_scores_100_when_right() -> None:
    # The case: {"answers": ["no"]} with the prediction "no" scored 0 under the VQA rule.
    records = [rec("1", ["no"])]
    assert score_predictions(records, {"1": "no"}, metric="vqa")["accuracy"] == 0.0
    result = score_predictions(records, {"1": "no"})
    assert result["metric"] == "exact"
    assert result["accuracy"] == 100.0 and result["exact_match"] == 100.0
    assert result["per_question"] == {"1": 100.0}
    assert result["warnings"] == [
        "1 of 1 test records have 1 answer; the VQA rule assumes 10: scored with exact match"
    ]


def test_ten_copies_still_score_with_vqa() -> None:
    result = score_predictions([rec("1", ["no"] * 10)], {"1": "no"})
    assert result["metric"] == "vqa" and result["accuracy"] == 100.0 and result["warnings"] == []


def test_warning_counts_the_few_answer_records() -> None:
    records = [rec(f"s{i}", ["yes"]) for i in range(412)] + [rec(f"m{i}", ["yes"] * 10) for i in range(488)]
    result = score_predictions(records, {r.question_id: "yes" for r in records})
    assert result["metric"] == "exact" and result["accuracy"] == 100.0
    assert result["warnings"] == [
        "412 of 900 test records have 1 answer; the VQA rule assumes 10: scored with exact match"
    ]
    mixed = [rec("a", ["yes"]), rec("b", ["no", "nope"]), rec("c", ["x"] * 10)]
    assert choose_metric(mixed) == (
        "exact",
        ["2 of 3 test records have fewer than 3 answers; the VQA rule assumes 10: scored with exact match"],
    )


def test_exact_match_is_normalized_against_the_majority() -> None:
    records = [rec("1", ["Yes"]), rec("2", ["two"]), rec("3", ["lung", "lungs"]), rec("4", ["dog"])]
    result = score_predictions(records, {"1": "yes.", "2": "2", "3": "lungs", "4": "a dog"})
    assert result["per_question"] == {"1": 100.0, "2": 100.0, "3": 0.0, "4": 100.0}
    assert result["accuracy"] == result["exact_match"] == 75.0


def test_explicit_vqa_on_short_records_warns() -> None:
    result = score_predictions([rec("1", ["no"] * 3), rec("2", ["no"] * 10)], {"1": "no", "2": "no"}, "vqa")
    assert result["metric"] == "vqa" and result["per_question"]["1"] == pytest.approx(200 / 3)
    assert result["warnings"] == [
        "1 of 2 test records have 3 answers; the VQA rule assumes 10 (a right answer scores 100 only when "
        "at least 4 answers match it; metric 'exact' scores a right answer 100)"
    ]


def test_recorded_metric_wins_and_conflicts_are_refused() -> None:
    assert choose_metric([rec("1", ["no"] * 10, meta={"metric": "exact"})]) == ("exact", [])
    with pytest.raises(SeltdaInputError, match=r"several metrics \(aokvqa, exact\)"):
        choose_metric(
            [rec("1", ["no"], meta={"metric": "exact"}), rec("2", ["no"], meta={"metric": "aokvqa"})]
        )
    with pytest.raises(SeltdaInputError, match="unknown metric 'bleu' recorded in the records"):
        choose_metric([rec("1", ["no"], meta={"metric": "bleu"})])
    with pytest.raises(SeltdaInputError, match="unknown metric 'vqa2': choose among auto, vqa, exact"):
        score_predictions([rec("1", ["no"])], {}, metric="vqa2")


def test_vqa_v2_records_keep_official_scores_under_auto() -> None:
    data = json.loads(_OFFICIAL_SCORES.read_text(encoding="utf-8"))
    records = [rec(str(i), case["answers"]) for i, case in enumerate(data["cases"])]
    result = score_predictions(records, {str(i): case["prediction"] for i, case in enumerate(data["cases"])})
    assert result["metric"] == "vqa" and result["warnings"] == []
    assert result["accuracy"] == data["official_overall"]
    for i, case in enumerate(data["cases"]):
        assert abs(result["per_question"][str(i)] - case["official"]) < 0.01


def test_a_converted_csv_scores_right_answers(tmp_path: Path) -> None:
    # The user's table: image_path,question,answer; one answer per row.
    table = tmp_path / "test.csv"
    table.write_text(
        "image_path,question,answer\nimg1.jpg,Is there a tumor?,no\nimg2.jpg,What organ is shown?,liver\n",
        encoding="utf-8",
    )
    data = write_records(tmp_path / "test.jsonl", read_table(table))
    predictions = tmp_path / "predictions.json"
    predictions.write_text(
        json.dumps([{"question_id": "row-2", "answer": "no"}, {"question_id": "row-3", "answer": "lung"}])
    )
    result = score(predictions, data, tmp_path / "scored.json")
    assert result["metric"] == "exact" and result["accuracy"] == 50.0 and result["exact_match"] == 50.0
    assert "2 of 2 test records have 1 answer" in result["warnings"][0]
    saved = json.loads((tmp_path / "scored.json").read_text())
    assert saved["metric"] == "exact" and saved["warnings"] == result["warnings"]
    assert score(predictions, data, None, metric="vqa")["accuracy"] == 0.0
