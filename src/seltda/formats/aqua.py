"""AQUA (ArtVQA; Garcia et al., ECCV 2020 VISART workshop) JSON lists -> records.

Layout (github.com/noagarcia/ArtVQA, ``AQUA/{train,val,test}.json``): a JSON list of
``{"image": "23361-01lucret.jpg", "question": "...", "answer": "...", "need_external_knowledge": true}``;
images are SemArt's ``Images/`` folder. One answer per question, so the metric is exact match, as in the
AQUA paper and SelTDA's ``artvqa_eval.py``, which reports accuracy overall and for questions that need
external knowledge or not: SelTDA's ``convert_aqua.py`` stores that as the question type
(``external knowledge`` / ``no external knowledge``), the answer type as ``yes/no`` or ``other``, numbers
the questions in file order and appends the ``?`` the AQUA questions lack. The same is done here.
"""

from __future__ import annotations

import os
from typing import Any

from seltda.core.records import Record
from seltda.formats._common import (
    build_record,
    check_unique_ids,
    display,
    expect_list,
    expect_object,
    fill_template,
    get_field,
    load_json,
)

__all__ = ["DEFAULT_IMAGE_TEMPLATE", "EXTERNAL", "NO_EXTERNAL", "read_aqua", "yes_no_or_other"]

EXTERNAL = "external knowledge"
NO_EXTERNAL = "no external knowledge"
DEFAULT_IMAGE_TEMPLATE = "{image}"  # SemArt's file name, relative to its Images/ folder


def yes_no_or_other(answer: str) -> str:
    """The answer type SelTDA's converters give a single-answer question: ``yes/no`` or ``other``."""
    return "yes/no" if answer.strip().lower() in ("yes", "no") else "other"


def read_aqua(
    path: str | os.PathLike[str],
    id_offset: int = 0,
    image_template: str = DEFAULT_IMAGE_TEMPLATE,
    add_question_mark: bool = True,
) -> list[Record]:
    """Convert an AQUA split: question ids are ``id_offset`` + the item's index (SelTDA numbers train,
    val and test on from each other: pass the earlier splits' sizes to match its ids).

    ``need_external_knowledge`` becomes the question type and ``meta.need_external_knowledge``; the
    image path is ``image_template`` filled with ``image`` (relative to SemArt's ``Images/`` by default).
    """
    name = display(path)
    located = []
    for index, raw in enumerate(expect_list(load_json(path), name)):
        location = f"{name}: item {index}"
        item = expect_object(raw, location)
        located.append(
            (location, _record(item, location, id_offset + index, image_template, add_question_mark))
        )
    return check_unique_ids(located)


def _record(
    item: dict[str, Any], location: str, question_id: int, template: str, question_mark: bool
) -> Record:
    """One AQUA question."""
    image = get_field(item, "image", location, str)
    question = get_field(item, "question", location, str).strip()
    answer = get_field(item, "answer", location, str)
    external = get_field(item, "need_external_knowledge", location, bool)
    if question_mark and question and not question.endswith("?"):
        question += "?"
    return build_record(
        location,
        aliases={"answers": "answer"},
        question_id=question_id,
        image=fill_template(template, location, image=image, question_id=question_id),
        question=question,
        answers=[answer],
        question_type=EXTERNAL if external else NO_EXTERNAL,
        answer_type=yes_no_or_other(answer),
        meta={"need_external_knowledge": external, "dataset": "aqua", "metric": "exact"},
    )
