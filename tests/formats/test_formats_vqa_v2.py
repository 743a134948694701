"""Converter of VQA v2 and OK-VQA question/annotation files: hand-made samples, converted and read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import VQA_ANSWERS, write_json
from conftest import invoke_convert as invoke

from seltda.core.records import Record, read_records
from seltda.formats import (
    FormatError,
    convert,
    read_vqa_v2,
)


def vqa_files(tmp_path: Path) -> tuple[Path, Path]:
    questions = {
        "info": {"description": "This is v2.0 of the VQA dataset."},
        "task_type": "Open-Ended",
        "data_type": "mscoco",
        "data_subtype": "val2014",
        "license": {"name": "Creative Commons Attribution 4.0 International License"},
        "questions": [
            {"image_id": 262148, "question": "Is the man on skis?", "question_id": 262148000},
            {"image_id": 262148, "question": "What color is the sky?", "question_id": 262148001},
            {"image_id": 393225, "question": "How many dogs are there?", "question_id": 393225002},
        ],
    }

    def annotation(qid, image_id, qtype, atype, answers):
        return {
            "question_id": qid,
            "image_id": image_id,
            "question_type": qtype,
            "answer_type": atype,
            "multiple_choice_answer": answers[0],
            "answers": [
                {"answer": a, "answer_confidence": "yes" if i % 3 else "maybe", "answer_id": i + 1}
                for i, a in enumerate(answers)
            ],
        }

    annotations = {
        "info": {},
        "data_subtype": "val2014",
        "annotations": [
            annotation(393225002, 393225, "how many", "number", ["2"] * 7 + ["3", "2", "two"]),
            annotation(262148000, 262148, "is the man", "yes/no", VQA_ANSWERS),
            annotation(262148001, 262148, "what color is the", "other", ["blue"] * 9 + ["light blue"]),
        ],
    }
    return (
        write_json(tmp_path / "v2_OpenEnded_mscoco_val2014_questions.json", questions),
        write_json(tmp_path / "v2_mscoco_val2014_annotations.json", annotations),
    )


def test_vqa2_keeps_all_answers_ids_types_and_paths(tmp_path: Path) -> None:
    questions, annotations = vqa_files(tmp_path)
    result = convert("vqa2", tmp_path / "val.jsonl", questions=questions, annotations=annotations)
    assert result.count == 3 and result.paths == [tmp_path / "val.jsonl"]
    records = read_records(tmp_path / "val.jsonl")
    assert [r.question_id for r in records] == ["262148000", "262148001", "393225002"]  # question order
    first = records[0]
    assert first.image == "val2014/COCO_val2014_000000262148.jpg"
    assert first.answers == VQA_ANSWERS  # all 10, in order, duplicates kept
    assert (first.question_type, first.answer_type) == ("is the man", "yes/no")
    assert first.meta["image_id"] == 262148 and first.meta["multiple_choice_answer"] == "yes"
    assert records[2].answers == ["2"] * 7 + ["3", "2", "two"]
    assert records[2].image == "val2014/COCO_val2014_000000393225.jpg"


def test_vqa2_custom_template_and_subtype(tmp_path: Path) -> None:
    questions, annotations = vqa_files(tmp_path)
    records = read_vqa_v2(questions, annotations, image_template="coco/{subtype}/{image_id}.jpg", subtype="x")
    assert records[0].image == "coco/x/262148.jpg"
    with pytest.raises(FormatError, match=r"unknown placeholder \{split\}"):
        read_vqa_v2(questions, annotations, image_template="{split}/{image_id}.jpg")


def test_vqa2_requires_annotations(tmp_path: Path) -> None:
    questions, _ = vqa_files(tmp_path)
    with pytest.raises(FormatError, match="annotations file is required"):
        read_vqa_v2(questions, None)


def test_vqa2_errors_name_file_item_and_field(tmp_path: Path) -> None:
    questions, annotations = vqa_files(tmp_path)
    data = json.loads(questions.read_text())
    del data["questions"][1]["question"]
    write_json(questions, data)
    with pytest.raises(FormatError) as info:
        read_vqa_v2(questions, annotations)
    assert str(info.value) == f"{questions}: questions[1]: field 'question': missing"

    data["questions"][1]["question"] = "What color is the sky?"
    data["questions"][2]["question_id"] = 999
    write_json(questions, data)
    with pytest.raises(FormatError, match=r"questions\[2\]: question_id 999 has no annotation"):
        read_vqa_v2(questions, annotations)

    bad = json.loads(annotations.read_text())
    bad["annotations"][1]["answers"][4]["answer"] = 5
    write_json(annotations, bad)
    data["questions"][2]["question_id"] = 393225002
    write_json(questions, data)
    with pytest.raises(
        FormatError, match=r"annotations\[1\]: answers\[4\]: field 'answer': expected a string"
    ):
        read_vqa_v2(questions, annotations)

    write_json(questions, {"annotations": []})
    with pytest.raises(FormatError, match="missing the 'questions' list"):
        read_vqa_v2(questions, annotations)


def test_okvqa_shares_the_layout(tmp_path: Path) -> None:
    questions = write_json(
        tmp_path / "OpenEnded_mscoco_val2014_questions.json",
        {
            "data_subtype": "val2014",
            "questions": [
                {"image_id": 297147, "question": "What sport can you use this for?", "question_id": 2971475}
            ],
        },
    )
    answers = ["racing"] * 4 + ["motocross"] * 4 + ["riding"] * 2
    annotations = write_json(
        tmp_path / "mscoco_val2014_annotations.json",
        {
            "annotations": [
                {
                    "image_id": 297147,
                    "answer_type": "other",
                    "question_type": "eight",
                    "question_id": 2971475,
                    "confidence": 3,
                    "answers": [
                        {"answer_id": i + 1, "raw_answer": a, "answer_confidence": "yes", "answer": a}
                        for i, a in enumerate(answers)
                    ],
                }
            ]
        },
    )
    (record,) = read_vqa_v2(questions, annotations)
    assert record.answers == answers and record.question_id == "2971475"
    assert record.image == "val2014/COCO_val2014_000000297147.jpg"


def test_cli_vqa2(tmp_path: Path) -> None:
    questions, annotations = vqa_files(tmp_path)
    out = tmp_path / "records.jsonl"
    result = invoke("vqa2", "--questions", questions, "--annotations", annotations, "--out", out,
                    "--image-template", "{image_id}.jpg")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "vqa2: 3 records" in result.output
    assert read_records(out)[0] == Record(
        question_id="262148000",
        image="262148.jpg",
        question="Is the man on skis?",
        answers=VQA_ANSWERS,
        question_type="is the man",
        answer_type="yes/no",
        meta=read_records(out)[0].meta,
    )
    missing = invoke("vqa2", "--questions", questions, "--out", out)
    assert missing.exit_code == 2 and "annotations file is required" in missing.output
    assert "Traceback" not in missing.output


def _official_load_res(results_file: Path, questions_file: Path, annotations_file: Path) -> list[dict]:
    """The checks of the official VQA API's `VQA.loadRes` (GT-Vision-Lab/VQA, PythonHelperTools/vqaTools/
    vqa.py), transcribed: a JSON list whose question ids are exactly the annotations' (same type: ints),
    each joined to its annotation by that id."""
    dataset = json.loads(annotations_file.read_text())
    questions = json.loads(questions_file.read_text())
    qa = {ann["question_id"]: ann for ann in dataset["annotations"]}
    anns = json.loads(results_file.read_text())
    assert type(anns) == list, "results is not an array of objects"  # noqa: E721 (as the official code)
    assert set(ann["question_id"] for ann in anns) == set(qa), (
        "Results do not correspond to current VQA set. Either the results do not have predictions for all "
        "question ids in annotation file or there is atleast one question id that does not belong to the "
        "question ids in the annotation file."
    )
    for ann in anns:
        qa_ann = qa[ann["question_id"]]
        ann["image_id"] = qa_ann["image_id"]
        ann["question_type"] = qa_ann["question_type"]
        ann["answer_type"] = qa_ann["answer_type"]
    assert questions["task_type"] == "Open-Ended"
    return anns


def test_results_of_converted_records_load_in_the_official_vqa_api(tmp_path: Path) -> None:
    """Records from `convert vqa2`, answered (an evaluation JSON, string ids), then `convert results`: the
    official VQA API accepts the file (integer ids, every question once)."""
    questions, annotations = vqa_files(tmp_path)
    out = tmp_path / "val.jsonl"
    assert invoke("vqa2", "--questions", questions, "--annotations", annotations, "--out", out).exit_code == 0
    records = read_records(out)
    evaluation = {"predictions": [{"question_id": r.question_id, "answer": "yes"} for r in records]}
    write_json(tmp_path / "eval.json", evaluation)
    written = invoke("results", tmp_path / "eval.json", "--out", tmp_path / "results.json")
    assert written.exit_code == 0, written.output
    anns = _official_load_res(tmp_path / "results.json", questions, annotations)
    assert sorted(a["question_id"] for a in anns) == [262148000, 262148001, 393225002]
    assert {a["question_id"]: a["image_id"] for a in anns}[393225002] == 393225
