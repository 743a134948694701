"""Robustness suites: metrics over subsets of an evaluation, each defined by fields of the records.

- rephrasing: records sharing a `group_id` ask the same thing in other words; reports accuracy on them,
  the share of groups answered consistently (same normalized answer) and consistently *and* correctly, and
  the consensus scores CS(k) of Shah et al. (CVPR 2019, VQA-Rephrasings), k = 1..4.
- flagged: records carrying a flag (e.g. "counterfactual", "negation") vs the rest.
- numeric: questions whose answer is a number (answer_type "number" or a numeric majority answer).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

from seltda.core.records import Record
from seltda.eval.metrics import normalize_answer

SUITES = ("rephrasing", "flagged", "numeric")
CONSENSUS_SIZES = (1, 2, 3, 4)  # the k of CS(k), as in the VQA-Rephrasings paper


def _mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 2) if values else 0.0


def rephrasing_groups(records: Sequence[Record]) -> dict[str, list[Record]]:
    """The groups of rephrased questions: records sharing a `group_id`, groups of two or more."""
    groups: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        if record.group_id is not None:
            groups[record.group_id].append(record)
    return {k: v for k, v in groups.items() if len(v) > 1}


def rephrasing(
    records: Sequence[Record], per_question: Mapping[str, float], answers: Mapping[str, str]
) -> dict:
    """Accuracy and consistency over groups of rephrased questions (groups of two or more)."""
    groups = rephrasing_groups(records)
    members = [r for group in groups.values() for r in group]
    consistent = correct = 0
    for group in groups.values():
        predicted = {normalize_answer(answers.get(r.question_id, "")) for r in group}
        if len(predicted) == 1:
            consistent += 1
            correct += all(per_question.get(r.question_id, 0.0) >= 99.99 for r in group)
    return {
        "groups": len(groups),
        "questions": len(members),
        "accuracy": _mean([per_question.get(r.question_id, 0.0) for r in members]),
        "consistent": round(100 * consistent / max(1, len(groups)), 2),
        "consistent_and_correct": round(100 * correct / max(1, len(groups)), 2),
        **consensus_scores(list(groups.values()), per_question),
    }


def consensus_shares(
    groups: Mapping[str, Sequence[Record]], per_question: Mapping[str, float], k: int
) -> dict[str, float]:
    """Each group's share (percent) of its k-question subsets all answered correctly, for the groups of k
    or more questions: the per-group figures whose mean is ``CS(k)``."""
    shares = {}
    for name, group in groups.items():
        if len(group) >= k:
            correct = sum(per_question.get(r.question_id, 0.0) > 0 for r in group)
            shares[name] = 100 * math.comb(correct, k) / math.comb(len(group), k)
    return shares


def consensus_scores(
    groups: Sequence[Sequence[Record]],
    per_question: Mapping[str, float],
    sizes: Sequence[int] = CONSENSUS_SIZES,
) -> dict[str, float]:
    """``CS(k)``: the share of a group's k-question subsets all answered correctly, averaged over groups.

    A question counts as answered correctly when its score is above 0 (the paper's "VQA accuracy > 0").
    A group of n questions with c correct has C(c, k) correct subsets out of C(n, k); groups with fewer than
    k questions are left out of CS(k), and a CS(k) with no such group is left out of the result.
    """
    named = {str(index): group for index, group in enumerate(groups)}
    result = {}
    for k in sizes:
        shares = consensus_shares(named, per_question, k)
        if shares:
            result[f"CS({k})"] = round(sum(shares.values()) / len(shares), 2)
    return result


def flagged(records: Sequence[Record], per_question: Mapping[str, float]) -> dict:
    """Accuracy on each flagged subset vs the records without that flag."""
    flags = sorted({flag for record in records for flag in record.flags})
    result = {}
    for flag in flags:
        inside = [per_question.get(r.question_id, 0.0) for r in records if flag in r.flags]
        outside = [per_question.get(r.question_id, 0.0) for r in records if flag not in r.flags]
        result[flag] = {"n": len(inside), "accuracy": _mean(inside), "rest_accuracy": _mean(outside)}
    return result


def is_numeric(record: Record) -> bool:
    if record.answer_type == "number":
        return True
    return normalize_answer(record.majority_answer()).replace(".", "", 1).isdigit()


def numeric(records: Sequence[Record], per_question: Mapping[str, float]) -> dict:
    """Accuracy on questions with number answers (counting and other numeric questions)."""
    scores = [per_question.get(r.question_id, 0.0) for r in records if is_numeric(r)]
    return {"n": len(scores), "accuracy": _mean(scores)}


def run_suites(
    records: Sequence[Record], per_question: Mapping[str, float], answers: Mapping[str, str], names=SUITES
) -> dict:
    """Every requested suite that applies to these records (a suite with no eligible record is left out)."""
    result = {}
    if "rephrasing" in names:
        suite = rephrasing(records, per_question, answers)
        if suite["groups"]:
            result["rephrasing"] = suite
    if "flagged" in names:
        result.update({f"flag:{k}": v for k, v in flagged(records, per_question).items()})
    if "numeric" in names:
        suite = numeric(records, per_question)
        if suite["n"]:
            result["numeric"] = suite
    return result


def suite_units(
    records: Sequence[Record], per_question: Mapping[str, float], names=SUITES
) -> dict[str, dict[str, float]]:
    """The figures of the suites a table compares models on, each as the scores of its units (questions,
    or groups for ``CS(k)``) whose mean is the figure: ``rephrasing CS(k)``, ``flag:<flag>``, ``numeric``.
    A gain over them can be bootstrapped over those units (`eval.intervals`)."""
    result: dict[str, dict[str, float]] = {}
    if "rephrasing" in names:
        groups = rephrasing_groups(records)
        for k in CONSENSUS_SIZES:
            shares = consensus_shares(groups, per_question, k)
            if shares:
                result[f"rephrasing CS({k})"] = shares
    if "flagged" in names:
        for flag in sorted({flag for record in records for flag in record.flags}):
            result[f"flag:{flag}"] = {
                r.question_id: per_question.get(r.question_id, 0.0) for r in records if flag in r.flags
            }
    if "numeric" in names:
        numbers = {r.question_id: per_question.get(r.question_id, 0.0) for r in records if is_numeric(r)}
        if numbers:
            result["numeric"] = numbers
    return result
