"""Official VQA v2 (and OK-VQA) question + annotation file pairs -> records."""

from __future__ import annotations

import os
from typing import Any

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
    template_fields,
)

__all__ = ["DEFAULT_IMAGE_TEMPLATE", "read_vqa_v2"]

DEFAULT_IMAGE_TEMPLATE = "{subtype}/COCO_{subtype}_{image_id:012d}.jpg"


def read_vqa_v2(
    questions: str | os.PathLike[str],
    annotations: str | os.PathLike[str] | None,
    image_template: str = DEFAULT_IMAGE_TEMPLATE,
    subtype: str | None = None,
) -> list[Record]:
    """Join a VQA v2 / OK-VQA questions file with its annotations file, in question order.

    Every annotator answer is kept in order (duplicates included); integer ids become strings.
    The image path is ``image_template`` filled with ``subtype`` (default: the questions file's
    ``data_subtype``, e.g. ``train2014``), ``image_id`` and ``question_id``.
    """
    if annotations is None:
        raise FormatError(
            f"{display(questions)}: an annotations file is required (records need answers); "
            "test and test-dev question files have none, so they cannot be converted"
        )
    q_name, a_name = display(questions), display(annotations)
    q_data = load_json(questions)
    q_items = expect_list(q_data, q_name, "questions")
    subtype = subtype or _subtype(q_data, q_name, image_template)
    by_id = _index_annotations(expect_list(load_json(annotations), a_name, "annotations"), a_name)
    located = []
    for index, raw in enumerate(q_items):
        location = f"{q_name}: questions[{index}]"
        record = _record(expect_object(raw, location), location, by_id, a_name, image_template, subtype)
        located.append((location, record))
    return check_unique_ids(located)


def _subtype(data: dict[str, Any], name: str, template: str) -> str:
    """The questions file's ``data_subtype``; required only if the template uses ``{subtype}``."""
    value = data.get("data_subtype")
    if isinstance(value, str) and value:
        return value
    if "subtype" in template_fields(template):
        raise FormatError(
            f"{name}: field 'data_subtype': missing; pass the subtype (e.g. train2014) "
            "or an image template without {subtype}"
        )
    return ""


def _index_annotations(items: list[Any], name: str) -> dict[int | str, tuple[str, dict[str, Any]]]:
    """Annotations by question_id, each with its location for messages."""
    by_id: dict[int | str, tuple[str, dict[str, Any]]] = {}
    for index, raw in enumerate(items):
        location = f"{name}: annotations[{index}]"
        item = expect_object(raw, location)
        question_id = get_field(item, "question_id", location, (int, str))
        if question_id in by_id:
            raise FormatError(
                f"{location}: duplicate question_id {question_id!r} (first at {by_id[question_id][0]})"
            )
        by_id[question_id] = (location, item)
    return by_id


def _record(
    item: dict[str, Any],
    location: str,
    by_id: dict[int | str, tuple[str, dict[str, Any]]],
    a_name: str,
    template: str,
    subtype: str,
) -> Record:
    """One question joined with its annotation."""
    question_id = get_field(item, "question_id", location, (int, str))
    image_id = get_field(item, "image_id", location, (int, str))
    question = get_field(item, "question", location, str)
    if question_id not in by_id:
        raise FormatError(f"{location}: question_id {question_id!r} has no annotation in {a_name}")
    a_location, annotation = by_id[question_id]
    if "image_id" in annotation and annotation["image_id"] != image_id:
        raise FormatError(
            f"{a_location}: field 'image_id': {annotation['image_id']!r} differs from "
            f"{image_id!r} in the questions file (files from different splits?)"
        )
    answers, confidences = _answers(annotation, a_location)
    meta: dict[str, Any] = {"image_id": image_id}
    if any(confidence is not None for confidence in confidences):
        meta["answer_confidence"] = confidences
    if isinstance(annotation.get("multiple_choice_answer"), str):
        meta["multiple_choice_answer"] = annotation["multiple_choice_answer"]
    return build_record(
        location,
        question_id=question_id,
        image=fill_template(template, location, subtype=subtype, image_id=image_id, question_id=question_id),
        question=question,
        answers=answers,
        question_type=get_field(annotation, "question_type", a_location, str, None),
        answer_type=get_field(annotation, "answer_type", a_location, str, None),
        meta=meta,
    )


def _answers(annotation: dict[str, Any], location: str) -> tuple[list[str], list[str | None]]:
    """All annotator answers in order, and their confidences."""
    items = get_field(annotation, "answers", location, list)
    if not items:
        raise FormatError(f"{location}: field 'answers': empty list")
    answers: list[str] = []
    confidences: list[str | None] = []
    for index, raw in enumerate(items):
        where = f"{location}: answers[{index}]"
        entry = expect_object(raw, where)
        answer = get_field(entry, "answer", where, str)
        if not answer.strip():
            raise FormatError(f"{where}: field 'answer': empty")
        answers.append(answer)
        confidences.append(get_field(entry, "answer_confidence", where, str, None))
    return answers, confidences
