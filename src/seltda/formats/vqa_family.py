"""Evaluation sets in the VQA v2 layout -> records: VQA-Rephrasings, VQA-CE and AdVQA.

All three are read with ``read_vqa_v2`` (questions JSON + annotations JSON, every annotator answer kept) and
record ``meta.metric = "vqa"``, so ``--metric auto`` scores them with the official VQA rule.

- VQA-Rephrasings (Shah et al., CVPR 2019): ``v2_OpenEnded_mscoco_valrep2014_humans_og_questions.json`` and
  ``v2_mscoco_valrep2014_humans_og_annotations.json``; a rephrased question carries ``rephrasing_of``, the
  ``question_id`` of the VQA v2 val question it rephrases. Images: COCO val2014 (as SelTDA's
  ``convert_vqa_rephrasings.py`` points them).
- VQA-CE (Dancette et al., ICCV 2021; github.com/cdancette/detect-shortcuts, ``vqa.py`` and its release
  v1.0): the VQA v2 val questions/annotations plus ``counterexamples.json``, ``hard.json`` (and ``easy.json``
  when the mining was run locally), each a JSON list of integer question ids. The README: "easy" is every
  question id minus counterexamples and hard.
- AdVQA (Sheng et al., NeurIPS 2021): ``v1_OpenEnded_mscoco_val2017_advqa_questions.json`` and
  ``v1_mscoco_val2017_advqa_annotations.json`` (annotations without ``question_type``, as SelTDA's
  ``advqa_eval.py`` notes); the COCO images are read from val2014 as SelTDA's ``convert_advqa.py`` does.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from seltda.core.records import Record
from seltda.formats._common import FormatError, display, expect_list, get_field, json_type, load_json
from seltda.formats.vqa_v2 import DEFAULT_IMAGE_TEMPLATE, read_vqa_v2

__all__ = [
    "ADVQA_IMAGE_TEMPLATE",
    "REPHRASINGS_SUBTYPE",
    "VQA_CE_FLAGS",
    "read_advqa",
    "read_vqa_ce",
    "read_vqa_rephrasings",
]

ADVQA_IMAGE_TEMPLATE = "val2014/COCO_val2014_{image_id:012d}.jpg"
REPHRASINGS_SUBTYPE = "val2014"
REPHRASING_FLAG = "rephrasing"
# VQA-CE subset -> the flag its records carry
VQA_CE_FLAGS = {"counterexamples": "counterexample", "hard": "hard", "easy": "easy"}
VqaCeSubset = Literal["all", "counterexamples", "hard", "easy"]


def _with(record: Record, dataset: str, flags: list[str] | None = None, **meta: Any) -> Record:
    """The record with the VQA metric, the dataset name, extra meta and flags recorded."""
    return record.model_copy(
        update={
            "meta": {**record.meta, **meta, "dataset": dataset, "metric": "vqa"},
            "flags": [*record.flags, *(flags or [])],
        }
    )


def read_vqa_rephrasings(
    questions: str | os.PathLike[str],
    annotations: str | os.PathLike[str] | None,
    image_template: str = DEFAULT_IMAGE_TEMPLATE,
    subtype: str = REPHRASINGS_SUBTYPE,
) -> list[Record]:
    """VQA-Rephrasings: every question of a group gets ``group_id`` = the original's question id.

    A question with ``rephrasing_of`` belongs to the group of that id (and is flagged ``rephrasing``); one
    without it is an original and heads its own group, so the rephrasing suite computes CS(k) over them.
    ``subtype`` fills ``{subtype}`` (the file's ``data_subtype`` names no image folder; images are val2014).
    """
    records = read_vqa_v2(questions, annotations, image_template=image_template, subtype=subtype)
    name = display(questions)
    items = expect_list(load_json(questions), name, "questions")
    grouped = []
    for index, (record, item) in enumerate(zip(records, items, strict=True)):
        location = f"{name}: questions[{index}]"
        original = get_field(item, "rephrasing_of", location, (int, str), None)
        if original is None:
            grouped.append(
                _with(record, "vqa-rephrasings").model_copy(update={"group_id": record.question_id})
            )
            continue
        if str(original) == record.question_id or not str(original).strip():
            raise FormatError(f"{location}: field 'rephrasing_of': {original!r} is not another question's id")
        rephrased = _with(record, "vqa-rephrasings", [REPHRASING_FLAG], rephrasing_of=original)
        grouped.append(rephrased.model_copy(update={"group_id": str(original)}))
    return grouped


def read_vqa_ce(
    questions: str | os.PathLike[str],
    annotations: str | os.PathLike[str] | None,
    counterexamples: str | os.PathLike[str] | None = None,
    hard: str | os.PathLike[str] | None = None,
    easy: str | os.PathLike[str] | None = None,
    subset: VqaCeSubset = "all",
    image_template: str = DEFAULT_IMAGE_TEMPLATE,
    subtype: str | None = None,
) -> list[Record]:
    """VQA v2 val flagged with its VQA-CE subsets (``counterexample``, ``hard``, ``easy``).

    Without an ``easy`` file, the easy subset is every question in neither counterexamples nor hard (given
    both). ``subset`` keeps only that subset (``counterexamples`` is the set SelTDA reports as VQA-CE);
    ``all`` keeps every question and the flagged suite compares each subset with the rest.
    """
    if subset not in ("all", *VQA_CE_FLAGS):
        raise FormatError(f"subset must be one of all, {', '.join(VQA_CE_FLAGS)}; got {subset!r}")
    records = read_vqa_v2(questions, annotations, image_template=image_template, subtype=subtype)
    known = {record.question_id for record in records}
    flag_of: dict[str, str] = {}
    where: dict[str, str] = {}
    files = {"counterexamples": counterexamples, "hard": hard, "easy": easy}
    for name, path in files.items():
        if path is not None:
            _read_subset(path, VQA_CE_FLAGS[name], known, display(questions), flag_of, where)
    if easy is None and counterexamples is not None and hard is not None:
        flag_of.update({qid: "easy" for qid in known if qid not in flag_of})
    wanted = VQA_CE_FLAGS.get(subset)
    if wanted is not None and files[subset] is None and wanted not in flag_of.values():
        raise FormatError(
            f"subset {subset!r} needs the {subset}.json file"
            + (" (or both counterexamples.json and hard.json)" if subset == "easy" else "")
        )
    kept = []
    for record in records:
        flag = flag_of.get(record.question_id)
        if wanted is None or flag == wanted:
            kept.append(_with(record, "vqa-ce", [flag] if flag else None))
    return kept


def _read_subset(
    path: str | os.PathLike[str],
    flag: str,
    known: set[str],
    questions_name: str,
    flag_of: dict[str, str],
    where: dict[str, str],
) -> None:
    """Mark the question ids listed in one VQA-CE subset file with ``flag``."""
    name = display(path)
    for index, value in enumerate(expect_list(load_json(path), name)):
        location = f"{name}: item {index}"
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise FormatError(f"{location}: expected a question id (an integer), got {json_type(value)}")
        qid = str(value)
        if qid not in known:
            raise FormatError(f"{location}: question_id {value!r} is not in {questions_name}")
        if qid in flag_of:
            raise FormatError(f"{location}: question_id {value!r} is already listed at {where[qid]}")
        flag_of[qid] = flag
        where[qid] = location


def read_advqa(
    questions: str | os.PathLike[str],
    annotations: str | os.PathLike[str] | None,
    image_template: str = ADVQA_IMAGE_TEMPLATE,
    subtype: str | None = None,
) -> list[Record]:
    """AdVQA val: VQA v2-style files over COCO images; scored with the VQA rule.

    The default image path is the COCO val2014 file (as SelTDA reads them); with the COCO 2017 layout give
    ``val2017/{image_id:012d}.jpg``.
    """
    records = read_vqa_v2(questions, annotations, image_template=image_template, subtype=subtype)
    return [_with(record, "advqa") for record in records]
