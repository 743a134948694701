"""Converter of AQUA (ArtVQA): a sample in the release's own layout, converted and read back, and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import invoke_convert as invoke
from conftest import write_json

from seltda.core.records import read_records
from seltda.eval.scorers import choose_metric
from seltda.formats import FormatError, read_aqua


def aqua_items() -> list[dict]:
    """As in noagarcia/ArtVQA AQUA/test.json: no question mark, one answer, the knowledge flag."""
    return [
        {
            "image": "23361-01lucret.jpg",
            "question": "who was frequently portrayed as a symbol of purity in the 16th and 17th century",
            "answer": "Lucretia",
            "need_external_knowledge": True,
        },
        {
            "image": "42809-3baptist.jpg",
            "question": "what stand next to each other",
            "answer": "people",
            "need_external_knowledge": False,
        },
        {
            "image": "42809-3baptist.jpg",
            "question": "is there a dog?",
            "answer": "no",
            "need_external_knowledge": False,
        },
    ]


def test_aqua_round_trip(tmp_path: Path) -> None:
    path = write_json(tmp_path / "test.json", aqua_items())
    written = invoke("aqua", path, "--id-offset", 100, "--out", tmp_path / "aqua.jsonl")
    assert written.exit_code == 0, written.output
    records = read_records(tmp_path / "aqua.jsonl")
    assert [r.question_id for r in records] == ["100", "101", "102"]
    assert records[0].question.endswith("17th century?") and records[2].question == "is there a dog?"
    assert [r.answers for r in records] == [["Lucretia"], ["people"], ["no"]]
    assert [r.question_type for r in records] == [
        "external knowledge",
        "no external knowledge",
        "no external knowledge",
    ]
    assert [r.answer_type for r in records] == ["other", "other", "yes/no"]
    assert records[1].image == "42809-3baptist.jpg" and records[0].meta["need_external_knowledge"] is True
    assert choose_metric(records) == ("exact", [])
    (kept,) = read_aqua(write_json(tmp_path / "one.json", aqua_items()[1:2]), add_question_mark=False)
    assert kept.question == "what stand next to each other" and kept.question_id == "0"


def test_aqua_errors_name_file_item_and_field(tmp_path: Path) -> None:
    items = aqua_items()
    items[1]["need_external_knowledge"] = "no"
    path = write_json(tmp_path / "test.json", items)
    with pytest.raises(FormatError) as info:
        read_aqua(path)
    assert (
        str(info.value) == f"{path}: item 1: field 'need_external_knowledge': expected true/false, got string"
    )
    items = aqua_items()
    del items[2]["answer"]
    write_json(path, items)
    with pytest.raises(FormatError, match=r"test.json: item 2: field 'answer': missing"):
        read_aqua(path)
    items = aqua_items()
    items[0]["image"] = "../secret.jpg"
    write_json(path, items)
    with pytest.raises(FormatError, match=r"item 0: field 'image': .*contains '\.\.'"):
        read_aqua(path)
    write_json(path, {"questions": aqua_items()})
    with pytest.raises(FormatError, match="expected a JSON list, got object"):
        read_aqua(path)
