"""The teacher's target text, `Question: <q> Answer: <a1>,<a2>,...` (as the paper's code), and its tolerant
parser, which turns a (possibly malformed) generation back into a question and a weighted answer list."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from seltda.core.records import Record

_QA_PATTERN = re.compile(r"question\s*:\s*(?P<question>.+?)\s*answer\s*:\s*(?P<answers>.*)", re.I | re.S)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([?.!,;:'])")
_SPACE_AFTER_APOSTROPHE = re.compile(r"(\w)'\s+(\w)")


def distinct_answers(answers: list[str]) -> list[str]:
    """Distinct answers, most frequent first (ties: first seen)."""
    counts = Counter(a.strip() for a in answers if a.strip())
    order = {a: i for i, a in reversed(list(enumerate(a.strip() for a in answers)))}
    return sorted(counts, key=lambda a: (-counts[a], order[a]))


def format_target(record: Record, answers: str = "distinct", max_answers: int = 10) -> str:
    """The teacher's target text for one record."""
    chosen = (
        distinct_answers(record.answers) if answers == "distinct" else [a.strip() for a in record.answers]
    )
    answer_text = ",".join(a.replace(",", " ") for a in chosen[:max_answers])
    return f"Question: {record.question.strip()} Answer: {answer_text}"


@dataclass(frozen=True)
class ParsedQA:
    """A question and its answers with weights (share of mentions)."""

    question: str
    answers: list[str]
    weights: list[float]
    mentions: tuple[str, ...] = ()


def _tidy(text: str) -> str:
    """Undo tokenizer spacing: 'what is it ?' -> 'what is it?', "isn ' t" -> "isn't"."""
    text = " ".join(text.split())
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return _SPACE_AFTER_APOSTROPHE.sub(r"\1'\2", text).strip()


def parse_generation(text: str) -> ParsedQA | None:
    """Parse `question: ... answer: a, b` (any case and spacing); None when the text is not usable."""
    match = _QA_PATTERN.search(text)
    if match is None:
        return None
    question = _tidy(match.group("question"))
    raw = [_tidy(a) for a in re.split(r",|\banswer\s*:", match.group("answers"), flags=re.I)]
    mentions = [a for a in raw if a]
    if not question or not mentions or len(question) < 3:
        return None
    counts = Counter(mentions)
    answers = distinct_answers(mentions)
    return ParsedQA(question, answers, [counts[a] / len(mentions) for a in answers], tuple(mentions))


def answer_prompt(question: str) -> str:
    """The start of a target that the teacher continues to answer a given question."""
    return f"Question: {question.strip()} Answer:"


def first_answer(question: str, continuation: str) -> str:
    """The teacher's first answer in its continuation of `answer_prompt(question)`; "" when none parses."""
    parsed = parse_generation(f"{answer_prompt(question)} {continuation.strip()}")
    return parsed.answers[0] if parsed is not None else ""
