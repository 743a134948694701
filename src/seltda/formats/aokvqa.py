"""A-OKVQA JSON lists (``aokvqa_v1p0_{split}.json``) -> records."""

from __future__ import annotations

import os
from typing import Any, Literal

from seltda.core.records import Record
from seltda.formats._common import (
    FormatError,
    build_record,
    check_unique_ids,
    display,
    expect_list,
    expect_object,
    fill_template,
    get_field,
    load_json,
    string_list,
)

__all__ = ["DEFAULT_IMAGE_TEMPLATE", "RATIONALE_SEPARATOR", "read_aokvqa"]

DEFAULT_IMAGE_TEMPLATE = "{split}2017/{image_id:012d}.jpg"
RATIONALE_SEPARATOR = " | "


def read_aokvqa(
    path: str | os.PathLike[str],
    split: str = "val",
    image_template: str = DEFAULT_IMAGE_TEMPLATE,
    rationale: Literal["join", "first"] = "join",
) -> list[Record]:
    """Convert an A-OKVQA file: answers are the 10 ``direct_answers`` (duplicates kept).

    ``rationale="join"`` joins all rationales with ``" | "``; ``"first"`` keeps only the first.
    ``meta`` keeps ``image_id``, ``choices``, ``correct_choice_idx`` and ``difficult_direct_answer``
    (also flagged as ``difficult_direct_answer``) and records ``metric: "aokvqa"``. The image path is
    ``image_template`` filled with ``split``, ``image_id`` and ``question_id`` (COCO 2017 layout by default).
    """
    if rationale not in ("join", "first"):
        raise FormatError(f"rationale must be 'join' or 'first', got {rationale!r}")
    name = display(path)
    located = []
    for index, raw in enumerate(expect_list(load_json(path), name)):
        location = f"{name}: item {index}"
        record = _record(expect_object(raw, location), location, split, image_template, rationale)
        located.append((location, record))
    return check_unique_ids(located)


def _record(item: dict[str, Any], location: str, split: str, template: str, rationale: str) -> Record:
    """One A-OKVQA question."""
    question_id = get_field(item, "question_id", location, (str, int))
    image_id = get_field(item, "image_id", location, (int, str))
    if "direct_answers" not in item:
        raise FormatError(
            f"{location}: field 'direct_answers': missing (the A-OKVQA test split has no answers)"
        )
    difficult = get_field(item, "difficult_direct_answer", location, bool, None)
    meta: dict[str, Any] = {"image_id": image_id}
    if "choices" in item:
        meta["choices"] = string_list(item["choices"], location, "choices")
    correct = get_field(item, "correct_choice_idx", location, int, None)
    if correct is not None:
        if "choices" in meta and not 0 <= correct < len(meta["choices"]):
            raise FormatError(f"{location}: field 'correct_choice_idx': {correct} is out of range")
        meta["correct_choice_idx"] = correct
        if "choices" in meta:
            meta["correct_choice"] = meta["choices"][correct]
    if difficult is not None:
        meta["difficult_direct_answer"] = difficult
    meta["metric"] = "aokvqa"  # how `evaluate --metric auto` scores these records (docs/metrics.md)
    return build_record(
        location,
        aliases={"answers": "direct_answers", "rationale": "rationales"},
        question_id=question_id,
        image=fill_template(template, location, split=split, image_id=image_id, question_id=question_id),
        question=get_field(item, "question", location, str),
        answers=string_list(item["direct_answers"], location, "direct_answers"),
        rationale=_rationale(item, location, rationale),
        flags=["difficult_direct_answer"] if difficult else None,
        meta=meta,
    )


def _rationale(item: dict[str, Any], location: str, mode: str) -> str | None:
    """The rationales joined (or the first one); None when absent."""
    if item.get("rationales") in (None, []):
        return None
    rationales = [text.strip() for text in string_list(item["rationales"], location, "rationales")]
    rationales = [text for text in rationales if text]
    if not rationales:
        return None
    return rationales[0] if mode == "first" else RATIONALE_SEPARATOR.join(rationales)
