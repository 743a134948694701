"""Predictions -> the official VQA results format (``[{"question_id": int, "answer": str}]``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from seltda.formats._common import FormatError, display, expect_object, get_field, json_type, load_json
from seltda.formats.reference import reference_id

__all__ = ["Predictions", "read_predictions", "to_vqa_results"]

Predictions = Mapping[str, str] | Sequence[Mapping[str, Any]]


def to_vqa_results(predictions: Predictions, source: str = "predictions") -> list[dict[str, Any]]:
    """``{question_id: answer}`` or a list of ``{"question_id", "answer"}`` as VQA results.

    All-digit ids become ints (as the VQA servers expect); others stay strings (A-OKVQA).
    ``source`` names the input in error messages.
    """
    items = predictions.items() if isinstance(predictions, Mapping) else _pairs(predictions, source)
    results = []
    seen: set[str] = set()
    for question_id, answer in items:
        question_id = str(question_id)
        if not isinstance(answer, str):
            raise FormatError(
                f"{source}: question {question_id!r}: answer must be a string, got {json_type(answer)}"
            )
        if question_id in seen:
            raise FormatError(f"{source}: duplicate question_id {question_id!r}")
        seen.add(question_id)
        results.append({"question_id": reference_id(question_id), "answer": answer})
    return results


def _pairs(items: Sequence[Any], source: str) -> list[tuple[str, Any]]:
    """``(question_id, answer)`` of each prediction dict, with located errors."""
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise FormatError(
            f"{source}: expected a list of predictions or a mapping, got {type(items).__name__}"
        )
    pairs = []
    for index, raw in enumerate(items):
        location = f"{source}[{index}]"
        item = expect_object(raw, location)
        question_id = get_field(item, "question_id", location, (str, int))
        if isinstance(question_id, str) and not question_id:
            raise FormatError(f"{location}: field 'question_id': empty")
        pairs.append((str(question_id), get_field(item, "answer", location, str)))
    return pairs


def read_predictions(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """VQA results from an evaluation JSON (its ``predictions`` list), a bare list or an id->answer object."""
    name = display(path)
    data = load_json(path)
    if isinstance(data, dict) and "predictions" in data:
        return to_vqa_results(_sequence(data["predictions"], f"{name}: predictions"), f"{name}: predictions")
    if isinstance(data, dict):
        if not all(isinstance(answer, str) for answer in data.values()):
            raise FormatError(
                f"{name}: expected an evaluation JSON with 'predictions', a list of "
                "{question_id, answer} objects, or a {question_id: answer} object"
            )
        return to_vqa_results(data, name)
    return to_vqa_results(_sequence(data, name), name)


def _sequence(value: Any, location: str) -> list[Any]:
    """A JSON list, else a located error."""
    if not isinstance(value, list):
        raise FormatError(f"{location}: expected a JSON list of predictions, got {json_type(value)}")
    return value
