"""Converter of A-OKVQA files: hand-made samples, converted and read back."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import aokvqa_items, write_json

from seltda.core.records import read_records
from seltda.formats import (
    FORMATS,
    FormatError,
    convert,
)


def test_aokvqa(tmp_path: Path) -> None:
    source = write_json(tmp_path / "aokvqa_v1p0_val.json", aokvqa_items())
    convert("aokvqa", tmp_path / "out.jsonl", path=source)
    first, second = read_records(tmp_path / "out.jsonl")
    assert first.question_id == "22jbM6gDxdaMaunuzgrsBB"
    assert first.image == "val2017/000000461751.jpg"
    assert first.answers == ["cigarette"] * 9 + ["smoke"]
    assert first.rationale == (
        "He's smoking while riding. | The motorcyclist has a lit cigarette in his mouth while he rides "
        "on the street. | The man is smoking."
    )
    assert first.meta["choices"][3] == "cigarette" and first.meta["correct_choice"] == "cigarette"
    assert first.meta["correct_choice_idx"] == 3 and first.flags == []
    assert second.flags == ["difficult_direct_answer"] and second.answers.count("30") == 5

    (record, _) = FORMATS["aokvqa"].reader(source, split="train", rationale="first")
    assert record.image == "train2017/000000461751.jpg" and record.rationale == "He's smoking while riding."


def test_aokvqa_errors(tmp_path: Path) -> None:
    items = aokvqa_items()
    del items[1]["direct_answers"]
    source = write_json(tmp_path / "aokvqa_v1p0_test.json", items)
    with pytest.raises(FormatError, match=r"aokvqa_v1p0_test.json: item 1: field 'direct_answers': missing"):
        convert("aokvqa", tmp_path / "out.jsonl", path=source)
    items = aokvqa_items()
    items[0]["direct_answers"][2] = "  "
    write_json(source, items)
    with pytest.raises(FormatError, match=r"item 0: field 'direct_answers': answer 2 is empty"):
        convert("aokvqa", tmp_path / "out.jsonl", path=source)
