"""Converter of VQA results for the official servers: hand-made samples, converted and read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import invoke_convert as invoke
from conftest import write_json

from seltda.formats import (
    FormatError,
    read_predictions,
    to_vqa_results,
)


def test_vqa_results_round_trip(tmp_path: Path) -> None:
    evaluation = {
        "accuracy": 0.5,
        "predictions": [
            {"question_id": "262148000", "answer": "yes"},
            {"question_id": "22jbM6gDxdaMaunuzgrsBB", "answer": "cigarette"},
        ],
    }
    results = read_predictions(write_json(tmp_path / "eval.json", evaluation))
    assert results == [
        {"question_id": 262148000, "answer": "yes"},
        {"question_id": "22jbM6gDxdaMaunuzgrsBB", "answer": "cigarette"},
    ]
    assert to_vqa_results({"1": "two", "x1": "no"}) == [
        {"question_id": 1, "answer": "two"},
        {"question_id": "x1", "answer": "no"},
    ]
    written = invoke("results", tmp_path / "eval.json", "--out", tmp_path / "results.json")
    assert written.exit_code == 0, written.output
    back = json.loads((tmp_path / "results.json").read_text())
    assert back == results
    assert {str(r["question_id"]): r["answer"] for r in back} == {
        p["question_id"]: p["answer"] for p in evaluation["predictions"]
    }
    with pytest.raises(FormatError, match=r"^predictions\[1\]: field 'answer': missing$"):
        to_vqa_results([{"question_id": 1, "answer": "a"}, {"question_id": 2}])
    with pytest.raises(FormatError, match="duplicate question_id '1'"):
        to_vqa_results([{"question_id": 1, "answer": "a"}, {"question_id": "1", "answer": "b"}])


def test_cli_results(tmp_path: Path) -> None:
    evaluation = write_json(tmp_path / "eval.json", {"predictions": [{"question_id": "5", "answer": "yes"}]})
    out = tmp_path / "vqa_results.json"
    result = invoke("results", evaluation, "--out", out)
    assert result.exit_code == 0, result.output
    assert "results: 1 answers" in result.output
    assert json.loads(out.read_text()) == [{"question_id": 5, "answer": "yes"}]
    bad = invoke("results", tmp_path / "missing.json", "--out", out)
    assert bad.exit_code == 2 and "file not found" in bad.output
