"""CS(k), the consensus score of Shah et al. (CVPR 2019) over groups of rephrased questions."""

from __future__ import annotations

import itertools

import pytest

from seltda.core.records import Record
from seltda.eval.suites import consensus_scores, rephrasing


def rec(qid: str, group: str | None) -> Record:
    return Record(question_id=qid, image="a.png", question="q?", answers=["x"], group_id=group)


def test_consensus_scores_on_hand_computed_groups() -> None:
    g1 = [rec(f"a{i}", "g1") for i in range(4)]
    g2 = [rec(f"b{i}", "g2") for i in range(2)]
    # g1: 3 of 4 correct (a score above 0 counts, as "VQA accuracy > 0" in the paper); g2: 2 of 2.
    per_question = {"a0": 100.0, "a1": 100.0, "a2": 30.0, "a3": 0.0, "b0": 100.0, "b1": 60.0}
    # g1: CS(1) 3/4, CS(2) 3/6, CS(3) 1/4, CS(4) 0/1; g2: CS(1) 1, CS(2) 1, too small for k = 3, 4.
    assert consensus_scores([g1, g2], per_question) == {
        "CS(1)": 87.5,
        "CS(2)": 75.0,
        "CS(3)": 25.0,
        "CS(4)": 0.0,
    }
    assert consensus_scores([g2], per_question) == {"CS(1)": 100.0, "CS(2)": 100.0}


def test_consensus_scores_match_subset_enumeration() -> None:
    group = [rec(f"q{i}", "g") for i in range(5)]
    per_question = {"q0": 100.0, "q1": 0.0, "q2": 100.0, "q3": 100.0, "q4": 0.0}
    for k in (1, 2, 3, 4):
        subsets = list(itertools.combinations(group, k))
        share = sum(all(per_question[r.question_id] > 0 for r in s) for s in subsets) / len(subsets)
        assert consensus_scores([group], per_question)[f"CS({k})"] == pytest.approx(round(100 * share, 2))


def test_rephrasing_suite_reports_consensus_beside_consistency() -> None:
    records = [rec("1", "g"), rec("2", "g"), rec("3", "g"), rec("4", None)]
    suite = rephrasing(records, {"1": 100.0, "2": 100.0, "3": 0.0}, {"1": "x", "2": "x", "3": "y"})
    assert suite["groups"] == 1 and suite["consistent"] == 0.0
    assert suite["CS(1)"] == 66.67 and suite["CS(2)"] == 33.33 and suite["CS(3)"] == 0.0
    assert "CS(4)" not in suite  # no group with 4 questions
