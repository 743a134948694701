"""Tests for seltda.eval.metrics: official VQA accuracy rules, aggregation and paired bootstrap.

Expected figures are worked out by hand from the official VQA evaluation rules.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from seltda.eval import bootstrap, vqa
from seltda.eval.metrics import (
    compare_scores,
    exact_match,
    normalize_answer,
    paired_bootstrap,
    score_predictions,
    vqa_accuracy,
)

# ---------------------------------------------------------------------------------------------------------
# normalize_answer: punctuation step
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Not touching a space: the character becomes a space and splits the word.
        ("x-ray", "x ray"),
        ("hello,world", "hello world"),
        ("red/blue", "red blue"),
        ("(yes)", "yes"),
        ("c++", "c"),
        ("hi!", "hi"),
        # Touching a space somewhere in the text: every occurrence of that character is deleted.
        ("x-ray -", "xray"),
        ("- x-ray", "xray"),
        ("red/blue /", "redblue"),
        # The decision is per character: ';' touches a space, '-' does not.
        ("x-ray ;", "x ray"),
        ("x-ray; y", "x ray y"),
        # A comma between two digits anywhere deletes every punctuation character.
        ("1,000", "1000"),
        ("1,000-2", "10002"),
        ("a-b 1,5", "ab 15"),
        # ':' and the apostrophe are not in the punctuation list.
        ("10:30", "10:30"),
        ("it's", "it's"),
    ],
)
def test_punctuation_rules(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes.", "yes"),
        ("3.5", "3.5"),
        ("3.", "3"),
        (".5", ".5"),
        ("e.g.", "eg"),
        ("a.m.", "am"),
        ("3.5.", "3.5"),
        ("...", ""),
    ],
)
def test_period_strip(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_period_strip_stops_after_32_replacements() -> None:
    assert normalize_answer("x." * 32) == "x" * 32
    assert normalize_answer("x." * 33) == "x" * 32 + "x."
    assert normalize_answer("x." * 40) == "x" * 32 + "x." * 8


# ---------------------------------------------------------------------------------------------------------
# normalize_answer: digit / article / contraction step
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("two", "2"),
        ("Two Dogs", "2 dogs"),
        ("none", "0"),
        ("zero", "0"),
        ("TEN", "10"),
        ("eleven", "eleven"),
        ("twenty two", "twenty 2"),
        ("the dog", "dog"),
        ("A Dog", "dog"),
        ("an apple", "apple"),
        ("the", ""),
        ("theater", "theater"),
        ("  lots   of\tspace \n", "lots of space"),
        ("dont", "don't"),
        ("isnt", "isn't"),
        ("Whats up", "what's up"),
        ("oclock", "o'clock"),
        ("youre", "you're"),
        # Quirks of the contraction table: capitalised keys never match lowercased words, and one entry
        # maps an apostrophe form back to the bare one.
        ("Im", "im"),
        ("Ive", "ive"),
        ("somebody'd", "somebodyd"),
    ],
)
def test_digit_article_contraction_rules(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_contraction_table_size_and_entries() -> None:
    table = vqa._CONTRACTIONS
    assert len(table) == 120
    assert table["aint"] == "ain't"
    assert table["wheres"] == "where's"
    assert table["yall'd've"] == "y'all'd've"
    assert table["youve"] == "you've"
    assert table["let's"] == "let's"


# ---------------------------------------------------------------------------------------------------------
# vqa_accuracy
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_yes", "expected"),
    [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (5, 1.0), (9, 1.0)],
)
def test_leave_one_out_averaging(n_yes: int, expected: float) -> None:
    answers = ["yes"] * n_yes + ["no"] * (10 - n_yes)
    assert vqa_accuracy("yes", answers) == pytest.approx(expected)
    # The position of the matching answers does not matter.
    assert vqa_accuracy("yes", answers[::-1]) == pytest.approx(expected)


def test_leave_one_out_small_answer_lists() -> None:
    # Leave out yes: 1 match left (1/3), twice; leave out no: 2 matches (2/3). Mean 4/9.
    assert vqa_accuracy("yes", ["yes", "yes", "no"]) == pytest.approx(4 / 9)
    # A single answer leaves no other answer to match.
    assert vqa_accuracy("yes", ["yes"]) == 0.0
    assert vqa_accuracy("yes", ["yes", "yes"]) == pytest.approx(1 / 3)


def test_identical_answers_are_not_normalized() -> None:
    ten_yes = ["yes"] * 10
    assert vqa_accuracy("yes", ten_yes) == 1.0
    assert vqa_accuracy("Yes", ten_yes) == 0.0
    assert vqa_accuracy("yes.", ten_yes) == 0.0
    assert vqa_accuracy("two", ["2"] * 10) == 0.0
    # The newline/tab clean-up still applies to everything.
    assert vqa_accuracy(" yes\n", ten_yes) == 1.0
    assert vqa_accuracy("yes", ["yes\t"] * 10) == 1.0
    # Answers that only differ before the clean-up count as identical.
    assert vqa_accuracy("Yes", ["yes", " yes"] * 5) == 0.0


def test_disagreeing_answers_are_normalized() -> None:
    # One dissenting annotator switches normalization on for the prediction and all answers.
    assert vqa_accuracy("Yes", ["yes"] * 9 + ["no"]) == 1.0
    assert vqa_accuracy("yes.", ["yes"] * 9 + ["no"]) == 1.0
    # "Two." -> "2"; answers normalize to three "2" and seven "no": 0.9.
    answers = ["two", "2", "the 2 "] + ["no"] * 7
    assert vqa_accuracy("Two.", answers) == pytest.approx(0.9)
    assert vqa_accuracy("dont know", ["don't know", "don't know", "no"]) == pytest.approx(4 / 9)
    assert vqa_accuracy("1000", ["1,000", "1,000", "1,000", "1000", "ten"]) == pytest.approx(1.0)


def test_vqa_accuracy_rejects_empty_answers() -> None:
    with pytest.raises(ValueError):
        vqa_accuracy("yes", [])


# ---------------------------------------------------------------------------------------------------------
# exact_match
# ---------------------------------------------------------------------------------------------------------


def test_exact_match() -> None:
    assert exact_match("Two", ["2", "2", "3"]) == 1.0
    assert exact_match("3", ["2", "2", "3"]) == 0.0
    # Counted after normalization: "2" (x3) beats "3" (x2) even though raw "3" ties with raw "2".
    assert exact_match("2", ["3", "two", "2", "3", "2."]) == 1.0
    # Ties go to the answer seen first.
    assert exact_match("red", ["red", "blue", "blue", "red"]) == 1.0
    assert exact_match("blue", ["red", "blue", "blue", "red"]) == 0.0
    # Always normalized, even when all answers agree.
    assert exact_match("Yes.", ["yes"] * 10) == 1.0
    with pytest.raises(ValueError):
        exact_match("yes", [])


# ---------------------------------------------------------------------------------------------------------
# score_predictions
# ---------------------------------------------------------------------------------------------------------


@dataclass
class _Record:
    question_id: str
    answers: list[str]
    question_type: str | None = None
    answer_type: str | None = None


@dataclass
class _BareRecord:
    question_id: str
    answers: list[str]


def _records() -> list[object]:
    return [
        _Record("q1", ["yes"] * 10, "is this", "yes/no"),  # pred "yes": acc 1, em 1
        _Record("q2", ["2"] * 3 + ["3"] * 7, "how many", "number"),  # pred "two": acc 0.9, em 0
        _Record("q3", ["red"] * 2 + ["blue"] * 8, "what color", None),  # missing: acc 0, em 0
        _BareRecord("q4", ["cat", "cat", "dog"]),  # pred "cat": acc 4/9, em 1
        _Record("q5", ["1"] * 10, "how many", "number"),  # pred "1": acc 1, em 1
    ]


def test_score_predictions_aggregates() -> None:
    predictions = {"q1": "yes", "q2": "two", "q4": "cat", "q5": "1", "unused": "x"}
    result = score_predictions(_records(), predictions)
    # (1 + 0.9 + 0 + 4/9 + 1) / 5 = 0.66888...
    assert result["accuracy"] == 66.89
    assert result["exact_match"] == 60.0
    assert result["n"] == 5
    assert result["missing"] == 1
    assert result["per_question_type"] == {
        "is this": {"accuracy": 100.0, "exact_match": 100.0, "n": 1},
        "how many": {"accuracy": 95.0, "exact_match": 50.0, "n": 2},
        "what color": {"accuracy": 0.0, "exact_match": 0.0, "n": 1},
    }
    assert result["per_answer_type"] == {
        "yes/no": {"accuracy": 100.0, "exact_match": 100.0, "n": 1},
        "number": {"accuracy": 95.0, "exact_match": 50.0, "n": 2},
    }
    per_question = result["per_question"]
    assert set(per_question) == {"q1", "q2", "q3", "q4", "q5"}
    assert per_question["q1"] == pytest.approx(100.0)
    assert per_question["q2"] == pytest.approx(90.0)
    assert per_question["q3"] == 0.0
    assert per_question["q4"] == pytest.approx(400 / 9)
    assert per_question["q5"] == pytest.approx(100.0)


def test_score_predictions_all_missing_and_empty() -> None:
    result = score_predictions(_records(), {})
    assert result["missing"] == 5
    assert result["accuracy"] == 0.0
    empty = score_predictions([], {})
    assert empty["n"] == 0
    assert empty["accuracy"] == 0.0
    assert empty["per_question"] == {}


# ---------------------------------------------------------------------------------------------------------
# paired_bootstrap / compare_scores
# ---------------------------------------------------------------------------------------------------------


def test_bootstrap_identical_scores() -> None:
    scores = [0.0, 0.3, 1.0, 0.6, 1.0] * 20
    result = paired_bootstrap(scores, scores, n_resamples=500)
    assert result["diff"] == 0.0
    assert result["ci_low"] == 0.0
    assert result["ci_high"] == 0.0
    assert result["p_value"] == 1.0
    assert result["n"] == 100
    assert result["n_resamples"] == 500
    assert result["confidence"] == 0.95


def test_bootstrap_clear_gain_and_loss() -> None:
    rng = np.random.default_rng(123)
    a = (rng.random(300) < 0.5).astype(float)
    b = np.where(rng.random(300) < 0.4, 1.0, a)  # b fixes ~40% of questions, never breaks one
    gain = paired_bootstrap(a, b, n_resamples=2000, seed=1)
    assert gain["diff"] == pytest.approx(float(b.mean() - a.mean()))
    assert gain["diff"] > 0
    assert 0 < gain["ci_low"] < gain["diff"] < gain["ci_high"]
    assert gain["p_value"] < 0.01
    loss = paired_bootstrap(b, a, n_resamples=2000, seed=1)
    assert loss["diff"] == pytest.approx(-gain["diff"])
    assert loss["ci_high"] < 0
    assert loss["p_value"] < 0.01


def test_bootstrap_single_question() -> None:
    result = paired_bootstrap([0.0], [1.0], n_resamples=100)
    assert result == {
        "diff": 1.0,
        "ci_low": 1.0,
        "ci_high": 1.0,
        "p_value": 0.0,
        "n": 1,
        "n_resamples": 100,
        "confidence": 0.95,
    }


def test_bootstrap_reproducible_with_seed() -> None:
    rng = np.random.default_rng(7)
    a = rng.random(50)
    b = a + rng.normal(0.02, 0.2, 50)
    first = paired_bootstrap(a, b, n_resamples=1000, seed=3)
    assert paired_bootstrap(a, b, n_resamples=1000, seed=3) == first
    other = paired_bootstrap(a, b, n_resamples=1000, seed=4)
    assert other["diff"] == first["diff"]
    assert (other["ci_low"], other["ci_high"]) != (first["ci_low"], first["ci_high"])
    assert first["ci_low"] <= first["diff"] <= first["ci_high"]
    assert 0.0 <= first["p_value"] <= 1.0


def test_bootstrap_chunks_cover_all_resamples(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap, "_BOOTSTRAP_CHUNK_ELEMENTS", 64)
    a = [0.0] * 30
    b = [1.0] * 10 + [0.0] * 20
    result = paired_bootstrap(a, b, n_resamples=1001, confidence=0.9)
    assert result["n_resamples"] == 1001
    assert 0.0 < result["ci_low"] < 1 / 3 < result["ci_high"] < 1.0
    assert result["p_value"] < 0.05


def test_bootstrap_input_errors() -> None:
    with pytest.raises(ValueError):
        paired_bootstrap([1.0, 0.0], [1.0])
    with pytest.raises(ValueError):
        paired_bootstrap([], [])
    with pytest.raises(ValueError):
        paired_bootstrap([1.0], [1.0], n_resamples=0)
    with pytest.raises(ValueError):
        paired_bootstrap([1.0], [1.0], confidence=1.0)


def test_compare_scores_aligns_on_common_ids() -> None:
    per_a = {"q3": 0.0, "q1": 100.0, "q2": 30.0, "only_a": 100.0}
    per_b = {"q2": 90.0, "q1": 100.0, "q3": 60.0, "only_b": 0.0}
    result = compare_scores(per_a, per_b, n_resamples=300, seed=5)
    assert result["n_common"] == 3
    assert result["n"] == 3
    assert result["accuracy_a"] == pytest.approx(130 / 3)
    assert result["accuracy_b"] == pytest.approx(250 / 3)
    assert result["diff"] == pytest.approx(40.0)
    direct = paired_bootstrap([100.0, 30.0, 0.0], [100.0, 90.0, 60.0], n_resamples=300, seed=5)
    for key in ("diff", "ci_low", "ci_high", "p_value"):
        assert result[key] == direct[key]
    with pytest.raises(ValueError):
        compare_scores({"a": 1.0}, {"b": 1.0})


# ---------------------------------------------------------------------------------------------------------
# Agreement with an independent, literal transcription of the scoring rules
# ---------------------------------------------------------------------------------------------------------

_REF_PUNCT = [
    ";",
    "/",
    "[",
    "]",
    '"',
    "{",
    "}",
    "(",
    ")",
    "=",
    "+",
    "\\",
    "_",
    "-",
    ">",
    "<",
    "@",
    "`",
    ",",
    "?",
    "!",
]
_REF_NUMBERS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
# Only the contraction entries that the random vocabulary below can produce.
_REF_CONTRACTIONS = {"dont": "don't", "isnt": "isn't", "whats": "what's", "cant": "can't"}
_DIGITS = "0123456789"


def _ref_has_digit_comma_digit(text: str) -> bool:
    return any(
        text[i] == "," and text[i - 1] in _DIGITS and text[i + 1] in _DIGITS for i in range(1, len(text) - 1)
    )


def _ref_punctuation(text: str) -> str:
    comma_rule = _ref_has_digit_comma_digit(text)
    out = text
    for p in _REF_PUNCT:
        near_space = any(
            text[i] == p and ((i > 0 and text[i - 1] == " ") or (i + 1 < len(text) and text[i + 1] == " "))
            for i in range(len(text))
        )
        out = "".join(("" if (comma_rule or near_space) else " ") if c == p else c for c in out)
    # Remove each "." not followed by a digit, scanning left to right, at most 32 times.
    result = []
    removed = 0
    for i, c in enumerate(out):
        followed_by_digit = i + 1 < len(out) and out[i + 1] in _DIGITS
        if c == "." and not followed_by_digit and removed < 32:
            removed += 1
            continue
        result.append(c)
    return "".join(result)


def _ref_words(text: str) -> str:
    words = [_REF_NUMBERS.get(w, w) for w in text.lower().split()]
    words = [w for w in words if w not in ("a", "an", "the")]
    return " ".join(_REF_CONTRACTIONS.get(w, w) for w in words)


def _ref_accuracy(prediction: str, answers: list[str]) -> float:
    def clean(s: str) -> str:
        return s.replace("\n", " ").replace("\t", " ").strip()

    gts = [clean(a) for a in answers]
    pred = clean(prediction)
    if len(set(gts)) > 1:
        gts = [_ref_words(_ref_punctuation(a)) for a in gts]
        pred = _ref_words(_ref_punctuation(pred))
    accs = []
    for i in range(len(gts)):
        others = gts[:i] + gts[i + 1 :]
        matches = len([g for g in others if g == pred])
        accs.append(min(1, matches / 3))
    return sum(accs) / len(accs)


_TOKENS = [
    "yes", "Yes", "no", "NO", "two", "2", "Two", "none", "0", "ten", "10", "one", "1",
    "a", "an", "the", "The", "dog", "dogs", "red", "blue", "1,000", "1000", "3.5", "3",
    "dont", "don't", "isnt", "whats", "cant", "it's", "10:30", "x-ray", "e.g.", "a.m.", "c++",
]  # fmt: skip
_DECORATIONS = ["", "", "", ".", ",", "!", "?", "(", ")", "-", "/", ";", '"', "..", "\n", "\t", " ", "@"]
_SEPARATORS = [" ", " ", "  ", "", ",", ", ", "-", " - ", "/", ".", "\t"]


def _random_core(rng: random.Random) -> str:
    if rng.random() < 0.02:
        return "x." * rng.randint(25, 40)
    text = rng.choice(_TOKENS)
    for _ in range(rng.choice([0, 0, 0, 1, 1, 2])):
        text += rng.choice(_SEPARATORS) + rng.choice(_TOKENS)
    return text


def _decorate(rng: random.Random, core: str) -> str:
    return rng.choice(_DECORATIONS) + core + rng.choice(_DECORATIONS)


def test_matches_independent_reimplementation() -> None:
    rng = random.Random(20240601)
    n_nonzero = 0
    for _ in range(4000):
        cores = [_random_core(rng) for _ in range(rng.randint(1, 3))]
        n_answers = rng.choice([1, 3, 10, 10, 10])
        if rng.random() < 0.25:
            answers = [_decorate(rng, cores[0])] * n_answers
        else:
            answers = [_decorate(rng, rng.choice(cores)) for _ in range(n_answers)]
        roll = rng.random()
        if roll < 0.3:
            prediction = rng.choice(answers)
        elif roll < 0.8:
            prediction = _decorate(rng, rng.choice(cores))
        else:
            prediction = _decorate(rng, _random_core(rng))
        for text in [prediction, *answers]:
            cleaned = text.replace("\n", " ").replace("\t", " ").strip()
            assert normalize_answer(text) == _ref_words(_ref_punctuation(cleaned)), text
        expected = _ref_accuracy(prediction, answers)
        assert vqa_accuracy(prediction, answers) == expected, (prediction, answers)
        n_nonzero += expected > 0
    assert n_nonzero > 1000  # the sample exercises matches, not just misses


# ---------------------------------------------------------------------------------------------------------
# Agreement with the official evaluator (expected figures only; the official code is not in this repo)
# ---------------------------------------------------------------------------------------------------------

_OFFICIAL_SCORES = Path(__file__).parent.parent / "data" / "vqa_official_scores.json"


def test_matches_official_evaluator_scores() -> None:
    # Scores computed offline by GT-Vision-Lab/VQA vqaEval.py (see "source" in the file) on seeded random
    # cases. The official per-question figure is 100 * accuracy rounded to 2 decimals, as is its overall.
    data = json.loads(_OFFICIAL_SCORES.read_text(encoding="utf-8"))
    cases = data["cases"]
    assert len(cases) >= 3000
    ours = []
    disagreements = []
    for case in cases:
        assert len(case["answers"]) == 10
        score = 100 * vqa_accuracy(case["prediction"], case["answers"])
        ours.append(score)
        if abs(score - case["official"]) >= 0.01:
            disagreements.append((case["prediction"], case["answers"], case["official"], score))
    assert not disagreements, disagreements[:5]
    # Every score level of a 10-annotator question shows up (0, 1, 2, 3 and 4+ matching answers).
    assert {round(case["official"]) for case in cases} == {0, 30, 60, 90, 100}
    mean_ours = math.fsum(ours) / len(ours)
    mean_official = math.fsum(case["official"] for case in cases) / len(cases)
    assert abs(mean_ours - mean_official) < 0.01
    assert abs(round(mean_ours, 2) - data["official_overall"]) < 1e-9
