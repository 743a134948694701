"""Converter of RSVQA-LR: split files in the release's own layout (entries of other splits inactive),
converted and read back, and errors naming file, item and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import invoke_convert as invoke
from conftest import write_json

from seltda.core.records import read_records
from seltda.eval.scorers import choose_metric
from seltda.formats import FormatError, read_rsvqa


def question(
    qid: int, img_id: int, qtype: str, text: str, answer_ids: list[int], active: bool = True
) -> dict:
    return {
        "id": qid,
        "date_added": 1588000000.0,
        "img_id": img_id,
        "people_id": 0,
        "type": qtype,
        "question": text,
        "answers_ids": answer_ids,
        "active": active,
    }


def answer(aid: int, qid: int, text: str, active: bool = True) -> dict:
    return {
        "id": aid,
        "date_added": 1588000000.0,
        "question_id": qid,
        "people_id": 0,
        "answer": text,
        "active": active,
    }


def split_files(folder: Path, questions: list[dict], answers: list[dict], images: list[dict]) -> Path:
    write_json(folder / "LR_split_test_questions.json", {"questions": questions})
    write_json(folder / "LR_split_test_answers.json", {"answers": answers})
    write_json(folder / "LR_split_test_images.json", {"images": images})
    return folder


def sample(folder: Path) -> Path:
    questions = [
        question(0, 0, "count", "How many buildings are there?", [0], active=False),  # train split
        question(1, 1, "presence", "Is there a road?", [1]),
        question(2, 1, "comparison", "Are there more water areas than buildings?", [2]),
        question(3, 1, "rural_urban", "Is it a rural or an urban area?", [3]),
        question(4, 2, "count", "How many roads are there?", [4]),  # its image is inactive
    ]
    answers = [
        answer(0, 0, "12", active=False),
        answer(1, 1, "yes"),
        answer(2, 2, "no"),
        answer(3, 3, "rural"),
        answer(4, 4, "3"),
    ]
    images = [
        {"id": 0, "people_id": 0, "questions_ids": [0], "active": False, "original_name": "s2_0"},
        {"id": 1, "people_id": 0, "questions_ids": [1, 2, 3], "active": True, "original_name": "s2_1"},
        {"id": 2, "people_id": 0, "questions_ids": [4], "active": False, "original_name": "s2_2"},
    ]
    return split_files(folder, questions, answers, images)


def test_rsvqa_lr_round_trip(tmp_path: Path) -> None:
    folder = sample(tmp_path)
    written = invoke("rsvqa", folder, "--split", "test", "--out", tmp_path / "rs.jsonl")
    assert written.exit_code == 0, written.output
    records = read_records(tmp_path / "rs.jsonl")
    assert [r.question_id for r in records] == ["1", "2", "3"]  # active questions on active images
    assert [r.question_type for r in records] == ["presence", "comparison", "rural_urban"]
    assert [r.answers for r in records] == [["yes"], ["no"], ["rural"]]
    assert {r.image for r in records} == {"1.tif"} and records[0].meta["img_id"] == 1
    assert choose_metric(records) == ("exact", [])


def test_rsvqa_inactive_entries_may_hold_nulls(tmp_path: Path) -> None:
    folder = sample(tmp_path)
    nulls = {key: None for key in ("id", "img_id", "type", "question", "answers_ids")} | {"active": False}
    questions = [nulls, question(1, 1, "presence", "Is there a road?", [1])]
    answers = [{"id": None, "answer": None, "active": False}, answer(1, 1, "yes")]
    images = [{"id": 1, "questions_ids": [1], "active": True}]
    split_files(folder, questions, answers, images)
    (record,) = read_rsvqa(folder)
    assert (record.question_id, record.answers) == ("1", ["yes"])


def test_rsvqa_errors_name_file_item_and_field(tmp_path: Path) -> None:
    folder = sample(tmp_path)
    q_file = folder / "LR_split_test_questions.json"
    questions = [
        question(1, 1, "presence", "Is there a road?", [1]),
        question(2, 1, "count", "How many?", [9]),
    ]
    images = [{"id": 1, "questions_ids": [1, 2], "active": True}]
    split_files(folder, questions, [answer(1, 1, "yes"), answer(2, 2, "4")], images)
    with pytest.raises(FormatError) as info:
        read_rsvqa(folder)
    a_file = folder / "LR_split_test_answers.json"
    assert str(info.value) == f"{q_file}: questions[1]: field 'answers_ids[0]': answer 9 is not in {a_file}"
    questions[1] = question(2, 7, "count", "How many?", [2])
    split_files(folder, questions, [answer(1, 1, "yes"), answer(2, 2, "4")], images)
    with pytest.raises(
        FormatError, match=r"questions\[1\]: field 'img_id': 7 is not in .*LR_split_test_images.json"
    ):
        read_rsvqa(folder)
    questions[1] = question(2, 1, "count", "How many?", [2]) | {"type": 3}
    split_files(folder, questions, [answer(1, 1, "yes"), answer(2, 2, "4")], images)
    with pytest.raises(FormatError, match=r"questions\[1\]: field 'type': expected a string, got number"):
        read_rsvqa(folder)
    questions[1] = question(2, 1, "count", "How many?", [2])
    split_files(folder, questions, [answer(1, 1, "yes"), answer(2, 1, "4")], images)
    with pytest.raises(FormatError, match=r"answers\[1\]: field 'question_id': 1 differs from question 2"):
        read_rsvqa(folder)
    del questions[1]["active"]
    split_files(folder, questions, [answer(1, 1, "yes"), answer(2, 2, "4")], images)
    with pytest.raises(FormatError, match=r"questions\[1\]: field 'active': missing"):
        read_rsvqa(folder)
    with pytest.raises(FormatError, match=r"LR_split_val_questions.json: not found"):
        read_rsvqa(folder, split="val")
