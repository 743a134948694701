"""Metrics by name: how one prediction scores against one record, and which metric fits a test set.

``METRICS`` maps a name to its per-question rule (a score in [0, 1]); ``choose_metric`` turns ``"auto"`` into
one of them for a whole test set and says, in ``warnings``, where the data has fewer answers than the rule
assumes. The rules are written out in ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from seltda.core.fileio import SeltdaInputError
from seltda.eval.vqa import exact_match, vqa_accuracy

__all__ = [
    "AUTO",
    "METRICS",
    "METRIC_NAMES",
    "MULTIPLE_CHOICE",
    "Metric",
    "aokvqa_direct_answer",
    "aokvqa_multiple_choice",
    "choose_metric",
    "prediction_warnings",
    "recorded_metric",
]

AUTO = "auto"
MULTIPLE_CHOICE = "aokvqa-mc"  # the one metric under which `evaluate` picks a choice instead of generating
# `auto` scores records with fewer answers than this with exact match: with 1 or 2 answers the VQA rule's
# leave-one-out leaves at most one matching annotator (a right answer scores 0 or 33).
FEW_ANSWERS = 3
# A-OKVQA: a direct answer scores 1 once this many of the direct answers match it.
AOKVQA_FULL_MATCHES = 3
DIFFICULT = "difficult_direct_answer"


def aokvqa_direct_answer(prediction: str, direct_answers: Sequence[str]) -> float:
    """A-OKVQA direct answer: min(1, exact (case-sensitive) matches among the direct answers / 3)."""
    matches = sum(prediction == answer for answer in direct_answers)
    return min(1.0, matches / AOKVQA_FULL_MATCHES)


def aokvqa_multiple_choice(prediction: str, choices: Sequence[str], correct_choice_idx: int) -> float:
    """A-OKVQA multiple choice: 1 when the prediction is the correct choice, else 0 (not a choice: 0)."""
    return float(prediction in choices and prediction == choices[correct_choice_idx])


def _meta(record: Any) -> Mapping[str, Any]:
    meta = getattr(record, "meta", None)
    return meta if isinstance(meta, Mapping) else {}


def is_difficult(record: Any) -> bool:
    """A-OKVQA's `difficult_direct_answer` (a flag or the converter's meta): left out of direct answer."""
    return DIFFICULT in getattr(record, "flags", ()) or bool(_meta(record).get(DIFFICULT))


def _has_choices(record: Any) -> bool:
    meta = _meta(record)
    choices, index = meta.get("choices"), meta.get("correct_choice_idx")
    return isinstance(choices, list) and isinstance(index, int) and 0 <= index < len(choices)


def _multiple_choice(prediction: str, record: Any) -> float:
    meta = _meta(record)
    return aokvqa_multiple_choice(prediction, meta["choices"], meta["correct_choice_idx"])


@dataclass(frozen=True)
class Metric:
    """A per-question rule: ``score(prediction, record)`` in [0, 1]."""

    name: str
    title: str  # how warnings name the rule
    score: Callable[[str, Any], float]
    assumed_answers: int  # answers per record the rule is written for
    full_marks: str = ""  # what a right answer needs to score 100, said in the warnings
    leaves_out: Callable[[Any], bool] | None = None  # records the official figure does not count


METRICS: dict[str, Metric] = {
    "vqa": Metric(
        "vqa",
        "the VQA rule",
        lambda prediction, record: vqa_accuracy(prediction, list(record.answers)),
        assumed_answers=10,
        full_marks="a right answer scores 100 only when at least 4 answers match it",
    ),
    "exact": Metric(
        "exact",
        "exact match",
        lambda prediction, record: exact_match(prediction, list(record.answers)),
        assumed_answers=1,
    ),
    "aokvqa": Metric(
        "aokvqa",
        "the A-OKVQA direct-answer rule",
        lambda prediction, record: aokvqa_direct_answer(prediction, list(record.answers)),
        assumed_answers=10,
        full_marks="a right answer scores 100 only when at least 3 answers match it",
        leaves_out=is_difficult,
    ),
    MULTIPLE_CHOICE: Metric(
        MULTIPLE_CHOICE, "the A-OKVQA multiple-choice rule", _multiple_choice, assumed_answers=1
    ),
}
METRIC_NAMES = (AUTO, *METRICS)


def recorded_metric(record: Any) -> str | None:
    """The metric a converter recorded for this record: ``meta["metric"]``, or A-OKVQA's for its dataset."""
    meta = _meta(record)
    if meta.get("metric") is not None:
        return str(meta["metric"])
    return "aokvqa" if meta.get("dataset") == "aokvqa" else None


def _answer_counts(counts: Sequence[int], below: int) -> str:
    """How warnings say the answer counts of some records: 1 answer, 2 answers, fewer than N answers."""
    distinct = set(counts)
    if len(distinct) == 1:
        (count,) = distinct
        return f"{count} answer" + ("" if count == 1 else "s")
    return f"fewer than {below} answers"


def _check_name(metric: str, where: str) -> None:
    if metric not in METRICS:
        raise SeltdaInputError(f"unknown metric {metric!r}{where}: choose among {', '.join(METRIC_NAMES)}")


def choose_metric(records: Sequence[Any], metric: str = AUTO) -> tuple[str, list[str]]:
    """The metric to score ``records`` with and warnings on how well the data fits it.

    ``auto``: the metric the converter recorded (``recorded_metric``), else ``exact`` when some records have
    fewer than 3 answers, else ``vqa``.
    """
    warnings: list[str] = []
    total = len(records)
    if metric == AUTO:
        recorded = sorted({name for name in map(recorded_metric, records) if name is not None})
        if len(recorded) > 1:
            raise SeltdaInputError(f"the records name several metrics ({', '.join(recorded)}): choose one")
        if recorded:
            _check_name(recorded[0], " recorded in the records")
            metric = recorded[0]
        else:
            few = [len(r.answers) for r in records if len(r.answers) < FEW_ANSWERS]
            if few:
                warnings.append(
                    f"{len(few)} of {total} test records have {_answer_counts(few, FEW_ANSWERS)}; "
                    f"the VQA rule assumes {METRICS['vqa'].assumed_answers}: scored with exact match"
                )
                return "exact", warnings
            metric = "vqa"
    _check_name(metric, "")
    chosen = METRICS[metric]
    short = [len(r.answers) for r in records if len(r.answers) < chosen.assumed_answers]
    if short:
        warnings.append(
            f"{len(short)} of {total} test records have {_answer_counts(short, chosen.assumed_answers)}; "
            f"{chosen.title} assumes {chosen.assumed_answers} ({chosen.full_marks}; metric 'exact' scores "
            "a right answer 100)"
        )
    if metric == MULTIPLE_CHOICE:
        lacking = sum(not _has_choices(r) for r in records)
        if lacking:
            raise SeltdaInputError(
                f"metric 'aokvqa-mc' needs meta.choices and meta.correct_choice_idx (as `seltda convert "
                f"aokvqa` writes them): {lacking} of {total} records lack them"
            )
    if metric == "aokvqa":
        difficult = sum(is_difficult(r) for r in records)
        if difficult:
            warnings.append(
                f"{difficult} of {total} test records are marked {DIFFICULT}: left out of accuracy, as the "
                "official A-OKVQA direct-answer evaluator does (their scores: suite "
                f"flag:{DIFFICULT})"
            )
    return metric, warnings


def prediction_warnings(metric: str, records: Sequence[Any], predictions: Mapping[str, str]) -> list[str]:
    """Warnings about the predictions themselves (multiple choice: answers that are not a choice)."""
    if metric != MULTIPLE_CHOICE:
        return []
    answered = [r for r in records if r.question_id in predictions]
    invalid = sum(predictions[r.question_id] not in _meta(r)["choices"] for r in answered)
    if not invalid:
        return []
    return [f"{invalid} of {len(answered)} predictions are not one of the record's choices: scored 0"]
