"""The SelTDA/BLIP reference annotation JSON (a list of question dicts) <-> records.

Layout (the paper's code reads it): ``[{"question_id", "image", "question", "answer": [...] or "...",
"dataset": "vqa", "rationales": [...] (optional), "question_type"/"answer_type" (optional)}]``;
``image`` is a path relative to the image root.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from seltda.core.records import Record
from seltda.formats._common import (
    FormatError,
    build_record,
    check_unique_ids,
    display,
    expect_list,
    expect_object,
    get_field,
    load_json,
    string_list,
)
from seltda.formats.aokvqa import RATIONALE_SEPARATOR

__all__ = ["read_reference", "to_reference"]

_KNOWN = {
    "question_id",
    "image",
    "question",
    "answer",
    "dataset",
    "rationales",
    "question_type",
    "answer_type",
}


def read_reference(path: str | os.PathLike[str]) -> list[Record]:
    """Convert a reference JSON list; ``dataset`` and any unknown keys go to ``meta``.

    A string ``answer`` becomes a one-answer list; ``rationales`` are joined with ``" | "``.
    """
    name = display(path)
    located = []
    for index, raw in enumerate(expect_list(load_json(path), name)):
        location = f"{name}: item {index}"
        located.append((location, _record(expect_object(raw, location), location)))
    return check_unique_ids(located)


def _record(item: dict[str, Any], location: str) -> Record:
    """One reference item."""
    if "answer" not in item:
        raise FormatError(
            f"{location}: field 'answer': missing (test files without answers cannot be converted)"
        )
    rationales = item.get("rationales")
    rationale = None
    if rationales:
        rationale = RATIONALE_SEPARATOR.join(string_list(rationales, location, "rationales"))
    meta = {key: value for key, value in item.items() if key not in _KNOWN}
    if item.get("dataset") is not None:
        meta["dataset"] = get_field(item, "dataset", location, str)
    return build_record(
        location,
        aliases={"answers": "answer", "rationale": "rationales"},
        question_id=get_field(item, "question_id", location, (int, str)),
        image=get_field(item, "image", location, str),
        question=get_field(item, "question", location, str),
        answers=string_list(item["answer"], location, "answer"),
        rationale=rationale,
        question_type=get_field(item, "question_type", location, str, None),
        answer_type=get_field(item, "answer_type", location, str, None),
        meta=meta,
    )


def reference_id(question_id: str) -> int | str:
    """An all-digit id as an int (as the reference code and the VQA servers expect), else the string."""
    return int(question_id) if question_id.isascii() and question_id.isdigit() else question_id


def to_reference(records: Iterable[Record], dataset: str = "vqa") -> list[dict[str, Any]]:
    """Records in the reference layout; ``dataset`` is ``meta["dataset"]`` or the given default.

    A rationale is written back as ``rationales``, split on ``" | "``.
    """
    items = []
    for record in records:
        item: dict[str, Any] = {
            "question_id": reference_id(record.question_id),
            "image": record.image,
            "question": record.question,
            "answer": list(record.answers),
            "dataset": str(record.meta.get("dataset", dataset)),
        }
        if record.rationale:
            item["rationales"] = record.rationale.split(RATIONALE_SEPARATOR)
        for key in ("question_type", "answer_type"):
            if getattr(record, key) is not None:
                item[key] = getattr(record, key)
        items.append(item)
    return items
