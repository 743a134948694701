"""Converter of the reference JSON list: hand-made samples, converted and read back."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import VQA_ANSWERS, aokvqa_items, write_json
from conftest import invoke_convert as invoke

from seltda.core.fileio import atomic_write_json
from seltda.core.records import read_records
from seltda.formats import (
    FormatError,
    convert,
    read_reference,
    to_reference,
)


def test_reference_round_trip(tmp_path: Path) -> None:
    items = [
        {
            "question_id": 262148000,
            "question": "Is the man on skis?",
            "answer": VQA_ANSWERS,
            "image": "val2014/COCO_val2014_000000262148.jpg",
            "dataset": "vqa",
        },
        {
            "question_id": 58,
            "question": "what does this image show?",
            "answer": "lung",
            "image": "train/train_0422.jpg",
            "dataset": "pathvqa",
            "question_type": "what",
            "answer_type": "other",
        },
        {
            "question_id": "22jbM6gDxdaMaunuzgrsBB",
            "question": "What is in the motorcyclist's mouth?",
            "answer": ["cigarette", "smoke"],
            "image": "val2017/000000461751.jpg",
            "dataset": "aokvqa",
            "rationales": ["He's smoking.", "The man is smoking."],
        },
    ]
    source = write_json(tmp_path / "vqa_train.json", items)
    convert("reference", tmp_path / "out.jsonl", path=source)
    records = read_records(tmp_path / "out.jsonl")
    assert [r.question_id for r in records] == ["262148000", "58", "22jbM6gDxdaMaunuzgrsBB"]
    assert records[0].answers == VQA_ANSWERS and records[0].meta == {"dataset": "vqa"}
    assert records[1].answers == ["lung"] and records[1].question_type == "what"
    assert records[2].rationale == "He's smoking. | The man is smoking."
    assert to_reference(records) == [items[0], {**items[1], "answer": ["lung"]}, items[2]]
    atomic_write_json(tmp_path / "back.json", to_reference(records), indent=None)
    assert read_reference(tmp_path / "back.json") == records


def test_reference_errors(tmp_path: Path) -> None:
    source = write_json(
        tmp_path / "test.json",
        [
            {"question_id": 1, "question": "Is it red?", "image": "a.jpg", "answer": ["yes"]},
            {"question_id": 2},
        ],
    )
    with pytest.raises(FormatError, match=r"test.json: item 1: field 'answer': missing"):
        read_reference(source)
    write_json(source, [{"question_id": 1, "question": "Is it red?", "image": "../a.jpg", "answer": ["yes"]}])
    with pytest.raises(FormatError, match=r"item 0: field 'image': image path '../a.jpg' contains '..'"):
        read_reference(source)
    write_json(source, [{"question_id": 1, "question": "Is it red?", "image": "a.jpg", "answer": []}])
    with pytest.raises(FormatError, match=r"item 0: field 'answer': expected a non-empty list"):
        read_reference(source)


def test_cli_reference_and_aokvqa(tmp_path: Path) -> None:
    source = write_json(tmp_path / "aokvqa_v1p0_val.json", aokvqa_items())
    result = invoke("aokvqa", source, "--out", tmp_path / "a.jsonl", "--split", "train")
    assert result.exit_code == 0, result.output
    assert read_records(tmp_path / "a.jsonl")[1].image == "train2017/000000081922.jpg"
    atomic_write_json(tmp_path / "ref.json", to_reference(read_records(tmp_path / "a.jsonl")), indent=None)
    result = invoke("reference", tmp_path / "ref.json", "--out", tmp_path / "b.jsonl")
    assert result.exit_code == 0, result.output
    assert [r.answers for r in read_records(tmp_path / "b.jsonl")] == [
        r.answers for r in read_records(tmp_path / "a.jsonl")
    ]
