"""RSVQA-LR (Lobry et al., IEEE TGRS 2020) JSON files -> records.

Layout (the Zenodo release, rsvqa.sylvainlobry.com; the loaders of SelTDA's ``convert_rsvqa.py`` and
ConfigILM's ``RSVQALR``): per split, ``LR_split_<split>_questions.json``, ``..._answers.json`` and
``..._images.json``, each an object holding a list under ``questions`` / ``answers`` / ``images``. A
question has ``id``, ``img_id``, ``type``, ``question``, ``answers_ids`` and ``active``; an answer ``id``,
``question_id``, ``answer`` and ``active``; an image ``id``, ``questions_ids`` and ``active``. Entries of
other splits stay in the lists with ``active: false`` and are skipped. Images are ``Images_LR/<img_id>.tif``.
One answer per question: exact match, reported per question type as SelTDA's ``rsvqa_lr_eval.py`` does.
The high-resolution set shares the layout with the ``USGS`` prefix.
"""

from __future__ import annotations

import os
from pathlib import Path
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
)

__all__ = ["DEFAULT_IMAGE_TEMPLATE", "DEFAULT_PREFIX", "DEFAULT_SPLIT", "read_rsvqa"]

DEFAULT_IMAGE_TEMPLATE = "{img_id}.tif"
DEFAULT_SPLIT = "test"
DEFAULT_PREFIX = "LR"  # the high-resolution set: "USGS"


def read_rsvqa(
    path: str | os.PathLike[str],
    split: str = DEFAULT_SPLIT,
    prefix: str = DEFAULT_PREFIX,
    image_template: str = DEFAULT_IMAGE_TEMPLATE,
) -> list[Record]:
    """Convert the active questions of ``<path>/<prefix>_split_<split>_*.json`` in question-file order.

    A question's answers are its ``answers_ids`` (the active ones, at least one); its image must be in the
    images file (a question on an inactive image is skipped). ``type`` becomes the question type; the image
    path is ``image_template`` filled with ``img_id`` (relative to ``Images_LR/`` by default).
    """
    folder = Path(path)
    names = {
        kind: folder / f"{prefix}_split_{split}_{kind}.json" for kind in ("questions", "answers", "images")
    }
    for file in names.values():
        if not file.is_file():
            raise FormatError(f"{display(file)}: not found (expected the {prefix} split files of {split!r})")
    images = _active(names["images"], "images")
    answers = _active(names["answers"], "answers")
    q_name = display(names["questions"])
    located = []
    for index, raw in enumerate(expect_list(load_json(names["questions"]), q_name, "questions")):
        location = f"{q_name}: questions[{index}]"
        item = expect_object(raw, location)
        if not get_field(item, "active", location, bool):
            continue
        img_id = get_field(item, "img_id", location, int)
        if img_id not in images["all"]:
            raise FormatError(f"{location}: field 'img_id': {img_id} is not in {display(names['images'])}")
        if img_id not in images["active"]:
            continue
        record = _record(item, location, img_id, answers, display(names["answers"]), image_template)
        located.append((location, record))
    return check_unique_ids(located)


def _active(path: Path, key: str) -> dict[str, dict[int, tuple[str, dict[str, Any]]]]:
    """Every entry's id (``all``) and the active entries by id with their locations (``active``)."""
    name = display(path)
    seen: dict[int, tuple[str, dict[str, Any]]] = {}
    active: dict[int, tuple[str, dict[str, Any]]] = {}
    for index, raw in enumerate(expect_list(load_json(path), name, key)):
        location = f"{name}: {key}[{index}]"
        item = expect_object(raw, location)
        is_active = get_field(item, "active", location, bool)
        if is_active:
            entry_id = get_field(item, "id", location, int)
        else:
            entry_id = get_field(item, "id", location, int, None)
        if entry_id is None:  # an inactive entry may carry nulls only
            continue
        if entry_id in seen:
            raise FormatError(f"{location}: duplicate id {entry_id} (first at {seen[entry_id][0]})")
        seen[entry_id] = (location, item)
        if is_active:
            active[entry_id] = (location, item)
    return {"all": seen, "active": active}


def _record(
    item: dict[str, Any],
    location: str,
    img_id: int,
    answers: dict[str, dict[int, tuple[str, dict[str, Any]]]],
    a_name: str,
    template: str,
) -> Record:
    """One active question with its active answers."""
    question_id = get_field(item, "id", location, int)
    answer_ids = get_field(item, "answers_ids", location, list)
    texts = []
    for position, answer_id in enumerate(answer_ids):
        where = f"{location}: field 'answers_ids[{position}]'"
        if isinstance(answer_id, bool) or not isinstance(answer_id, int):
            raise FormatError(f"{where}: expected an integer id, got {answer_id!r}")
        if answer_id not in answers["all"]:
            raise FormatError(f"{where}: answer {answer_id} is not in {a_name}")
        if answer_id not in answers["active"]:
            continue
        a_location, answer = answers["active"][answer_id]
        owner = get_field(answer, "question_id", a_location, int, None)
        if owner is not None and owner != question_id:
            raise FormatError(
                f"{a_location}: field 'question_id': {owner} differs from question {question_id}"
            )
        value = get_field(answer, "answer", a_location, (str, int))
        texts.append(str(value))
    if not texts:
        raise FormatError(f"{location}: field 'answers_ids': no active answer in {a_name}")
    return build_record(
        location,
        aliases={"answers": "answers_ids", "question_type": "type", "question_id": "id"},
        question_id=question_id,
        image=fill_template(template, location, img_id=img_id, question_id=question_id),
        question=get_field(item, "question", location, str),
        answers=texts,
        question_type=get_field(item, "type", location, str),
        meta={"img_id": img_id, "dataset": "rsvqa", "metric": "exact"},
    )
