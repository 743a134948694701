"""A-OKVQA metrics: worked cases from the official rules (allenai/aokvqa evaluation/eval_predictions.py).

Direct answer: min(1, #exact matches among the 10 direct answers / 3), no normalization, no leave-one-out.
Multiple choice: 1 when the prediction equals choices[correct_choice_idx], else 0, over every question
(difficult_direct_answer ones included); a missing prediction scores 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seltda.core.fileio import SeltdaInputError
from seltda.core.records import Record
from seltda.eval.metrics import score_predictions
from seltda.eval.scorers import aokvqa_direct_answer, aokvqa_multiple_choice
from seltda.formats.aokvqa import read_aokvqa

DIRECT = ["dog", "dog", "puppy", "cat", "pet", "animal", "terrier", "pup", "canine", "hound"]


@pytest.mark.parametrize(
    ("prediction", "answers", "expected"),
    [
        ("bird", DIRECT, 0.0),
        ("cat", DIRECT, 1 / 3),
        ("dog", DIRECT, 2 / 3),  # 2 of 10 match: 0.667 (the VQA rule would give 0.6)
        ("dog", ["dog"] * 3 + ["x"] * 7, 1.0),  # 3 matches: full marks (VQA: 0.9)
        ("dog", ["dog"] * 10, 1.0),
        ("Dog", DIRECT, 0.0),  # case-sensitive, as in the official code
        ("a dog", DIRECT, 0.0),  # no article stripping
        ("dog ", DIRECT, 0.0),  # no whitespace stripping
    ],
)
def test_direct_answer_rule(prediction: str, answers: list[str], expected: float) -> None:
    assert aokvqa_direct_answer(prediction, answers) == pytest.approx(expected)


def test_multiple_choice_rule() -> None:
    choices = ["cigarette", "pipe", "whistle", "candy"]
    assert aokvqa_multiple_choice("cigarette", choices, 0) == 1.0
    assert aokvqa_multiple_choice("pipe", choices, 0) == 0.0
    assert aokvqa_multiple_choice("Cigarette", choices, 0) == 0.0  # not one of the choices
    assert aokvqa_multiple_choice("", choices, 0) == 0.0  # a missing prediction


def _aokvqa_file(tmp_path: Path) -> Path:
    items = [
        {
            "question_id": "a1",
            "image_id": 1,
            "question": "What animal is this?",
            "choices": ["dog", "cat", "bird", "fish"],
            "correct_choice_idx": 0,
            "direct_answers": DIRECT,
            "difficult_direct_answer": False,
            "rationales": [],
        },
        {
            "question_id": "a2",
            "image_id": 2,
            "question": "What is he holding?",
            "choices": ["bat", "ball", "glove", "cap"],
            "correct_choice_idx": 2,
            "direct_answers": ["glove"] * 4 + ["mitt"] * 6,
            "difficult_direct_answer": True,
            "rationales": [],
        },
    ]
    path = tmp_path / "aokvqa_v1p0_val.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    return path


def test_converted_records_score_with_aokvqa_under_auto(tmp_path: Path) -> None:
    records = read_aokvqa(_aokvqa_file(tmp_path))
    assert all(r.meta["metric"] == "aokvqa" for r in records)
    result = score_predictions(records, {"a1": "dog", "a2": "mitt"})
    assert result["metric"] == "aokvqa"
    # a1: 2 matches -> 2/3; a2 is difficult_direct_answer: left out, as the official evaluator does
    assert result["per_question"] == pytest.approx({"a1": 200 / 3})
    assert result["accuracy"] == 66.67 and result["n"] == 1 and result["left_out"] == 1
    assert result["exact_match"] == 100.0  # majority answer "dog", normalized
    assert result["warnings"] == [
        "1 of 2 test records are marked difficult_direct_answer: left out of accuracy, as the official "
        "A-OKVQA direct-answer evaluator does (their scores: suite flag:difficult_direct_answer)"
    ]
    every = score_predictions(records, {"a1": "dog", "a2": "mitt"}, leave_out=False)
    assert every["per_question"] == pytest.approx({"a1": 200 / 3, "a2": 100.0}) and every["left_out"] == 0


def _official_eval_aokvqa(dataset: list[dict], preds: dict, multiple_choice: bool = False) -> float:
    """allenai/aokvqa evaluation/eval_predictions.py `eval_aokvqa` (non-strict), transcribed."""
    dataset = {d["question_id"]: d for d in dataset}
    if multiple_choice is False:
        dataset = {k: v for k, v in dataset.items() if v["difficult_direct_answer"] is False}
    acc = []
    for q in dataset:  # noqa: SIM118 (as the official code)
        if q not in preds:
            acc.append(0.0)
            continue
        pred = preds[q]
        choices = dataset[q]["choices"]
        direct_answers = dataset[q]["direct_answers"]
        if multiple_choice:
            acc.append(float(pred == choices[dataset[q]["correct_choice_idx"]]))
        else:
            num_match = sum([pred == da for da in direct_answers])
            acc.append(min(1.0, num_match / 3.0))
    return sum(acc) / len(acc) * 100.0


def test_score_of_converted_records_equals_the_official_figures(tmp_path: Path) -> None:
    """`seltda convert aokvqa` + `seltda score` (no --metric) equals the official direct-answer figure, and
    --metric aokvqa-mc the multiple-choice one, on a set with difficult questions and missing predictions."""
    import random

    from seltda.stages.evaluate import score

    rng = random.Random(0)
    words = ["dog", "cat", "red", "blue", "two", "Dog", "a dog", "glove", "mitt", ""]
    items = []
    for i in range(60):
        direct = [rng.choice(words[:8]) for _ in range(10)]
        choices = rng.sample(words[:8], 4)
        items.append(
            {
                "question_id": f"q{i}",
                "image_id": i,
                "question": f"question {i}?",
                "choices": choices,
                "correct_choice_idx": rng.randrange(4),
                "direct_answers": direct,
                "difficult_direct_answer": rng.random() < 0.3,
                "rationales": [],
            }
        )
    (tmp_path / "val.json").write_text(json.dumps(items), encoding="utf-8")
    from conftest import invoke_convert

    out = tmp_path / "r.jsonl"
    converted = invoke_convert("aokvqa", tmp_path / "val.json", "--split", "val", "--out", out)
    assert converted.exit_code == 0, converted.output
    direct = {f"q{i}": rng.choice(words) for i in range(60) if i % 7}  # some questions unanswered
    chosen = {f"q{i}": rng.choice(items[i]["choices"]) for i in range(60) if i % 5}
    for preds, mc, metric in ((direct, False, "auto"), (chosen, True, "aokvqa-mc")):
        (tmp_path / "preds.json").write_text(json.dumps(preds), encoding="utf-8")  # A-OKVQA's {qid: answer}
        ours = score(tmp_path / "preds.json", tmp_path / "r.jsonl", None, metric=metric)
        assert ours["accuracy"] == round(_official_eval_aokvqa(items, preds, mc), 2)


def test_multiple_choice_scoring_and_warning(tmp_path: Path) -> None:
    records = read_aokvqa(_aokvqa_file(tmp_path))
    result = score_predictions(records, {"a1": "dog", "a2": "baseball glove"}, metric="aokvqa-mc")
    assert result["metric"] == "aokvqa-mc"
    assert result["per_question"] == {"a1": 100.0, "a2": 0.0}
    assert result["accuracy"] == 50.0
    assert result["warnings"] == ["1 of 2 predictions are not one of the record's choices: scored 0"]


def test_multiple_choice_counts_every_question_and_missing_ones_as_zero(tmp_path: Path) -> None:
    """The official script leaves difficult_direct_answer questions out of the direct-answer setting only;
    a question without a prediction scores 0 (even when its correct choice is the empty string)."""
    records = read_aokvqa(_aokvqa_file(tmp_path))  # a2 is difficult_direct_answer
    result = score_predictions(records, {"a2": "glove"}, metric="aokvqa-mc")
    assert result["per_question"] == {"a1": 0.0, "a2": 100.0} and result["missing"] == 1
    assert result["accuracy"] == 50.0  # 1 of 2: the difficult question counted, the missing one 0
    empty = Record(
        question_id="e",
        image="a.png",
        question="q?",
        answers=["x"],
        meta={"choices": ["", "x"], "correct_choice_idx": 0},
    )
    assert score_predictions([empty], {}, metric="aokvqa-mc")["accuracy"] == 0.0
    assert score_predictions([empty], {"e": ""}, metric="aokvqa-mc")["accuracy"] == 100.0


def test_multiple_choice_needs_choices() -> None:
    records = [Record(question_id="q", image="a.png", question="q?", answers=["yes"] * 10)]
    with pytest.raises(SeltdaInputError, match="needs meta.choices and meta.correct_choice_idx.*1 of 1"):
        score_predictions(records, {"q": "yes"}, metric="aokvqa-mc")


def test_explicit_aokvqa_on_few_answers_warns() -> None:
    records = [Record(question_id="q", image="a.png", question="q?", answers=["cigarette", "smoke"])]
    result = score_predictions(records, {"q": "cigarette"}, metric="aokvqa")
    assert result["accuracy"] == 33.33
    assert result["warnings"] == [
        "1 of 1 test records have 2 answers; the A-OKVQA direct-answer rule assumes 10 (a right answer "
        "scores 100 only when at least 3 answers match it; metric 'exact' scores a right answer 100)"
    ]


def test_reference_records_of_the_aokvqa_dataset_pick_aokvqa() -> None:
    record = Record(
        question_id="q", image="a.png", question="q?", answers=["pipe"] * 10, meta={"dataset": "aokvqa"}
    )
    assert score_predictions([record], {"q": "pipe"})["metric"] == "aokvqa"
