"""Scoring a set of predictions: the chosen metric and exact match, overall and per question/answer type.

The per-question rules live in ``eval.vqa`` (official VQA v2 accuracy, exact match) and ``eval.scorers``
(metrics by name, ``auto``); the paired bootstrap in ``eval.bootstrap``. They are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from seltda.eval.bootstrap import compare_scores, paired_bootstrap
from seltda.eval.scorers import AUTO, METRICS, choose_metric, prediction_warnings
from seltda.eval.vqa import exact_match, normalize_answer, vqa_accuracy

__all__ = [
    "compare_scores",
    "exact_match",
    "normalize_answer",
    "paired_bootstrap",
    "score_predictions",
    "vqa_accuracy",
]


def _percent(values: Sequence[float]) -> float:
    """Mean of 0-1 scores as a percentage rounded to 2 decimals (0.0 when empty)."""
    if not values:
        return 0.0
    return round(100 * sum(values) / len(values), 2)


def _group_summary(groups: Mapping[str, tuple[list[float], list[float]]]) -> dict[str, dict[str, Any]]:
    return {
        name: {"accuracy": _percent(accs), "exact_match": _percent(ems), "n": len(accs)}
        for name, (accs, ems) in groups.items()
    }


def score_predictions(
    records: Iterable[Any], predictions: Mapping[str, str], metric: str = AUTO, leave_out: bool = True
) -> dict[str, Any]:
    """Score ``predictions`` (question_id -> answer) on ``records`` with ``metric`` (see ``eval.scorers``).

    Each record needs ``question_id`` and ``answers``; ``question_type`` / ``answer_type`` / ``meta`` are
    optional. ``accuracy`` is the chosen metric (named under ``metric``), ``exact_match`` the normalized exact
    match against the majority answer, ``warnings`` what does not fit the metric. A missing prediction scores
    0 and is counted in ``"missing"``. Records the metric's official figure does not count (A-OKVQA direct
    answer: ``difficult_direct_answer``) are left out of every figure and of ``per_question``, counted in
    ``"left_out"`` (``leave_out=False`` scores them too, as the suites do). Summary figures are
    percentages rounded to 2 decimals; ``per_question`` holds unrounded percentages of the chosen metric.
    """
    records = list(records)
    name, warnings = choose_metric(records, metric)
    scorer = METRICS[name].score
    leaves_out = METRICS[name].leaves_out if leave_out else None
    left_out = 0
    accs: list[float] = []
    ems: list[float] = []
    missing = 0
    per_question: dict[str, float] = {}
    by_question_type: dict[str, tuple[list[float], list[float]]] = {}
    by_answer_type: dict[str, tuple[list[float], list[float]]] = {}
    for record in records:
        if leaves_out is not None and leaves_out(record):
            left_out += 1
            continue
        question_id = record.question_id
        prediction = predictions.get(question_id)
        if prediction is None:  # scores 0 whatever the answers (as A-OKVQA's official evaluator)
            missing += 1
            acc = em = 0.0
        else:
            acc = scorer(prediction, record)
            em = exact_match(prediction, list(record.answers))
        accs.append(acc)
        ems.append(em)
        per_question[question_id] = 100 * acc
        for groups, key in (
            (by_question_type, getattr(record, "question_type", None)),
            (by_answer_type, getattr(record, "answer_type", None)),
        ):
            if key is not None:
                group_accs, group_ems = groups.setdefault(key, ([], []))
                group_accs.append(acc)
                group_ems.append(em)
    return {
        "metric": name,
        "accuracy": _percent(accs),
        "exact_match": _percent(ems),
        "n": len(accs),
        "missing": missing,
        "left_out": left_out,
        "warnings": warnings + prediction_warnings(name, records, predictions),
        "per_question_type": _group_summary(by_question_type),
        "per_answer_type": _group_summary(by_answer_type),
        "per_question": per_question,
    }
