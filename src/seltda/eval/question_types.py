"""Question types for records that do not carry one: the pseudo-labels, and datasets without types.

The labeled records teach the typing. A record with `question_type` keeps it; another one takes the type
that labeled questions with the same (normalized) majority answer most often have, else the type of
labeled questions opening with the same two words, else its answer type (`yes/no`, `number`, `other`),
which needs nothing from the labeled records. easy-VQA's "circle" is typed `shape` because every labeled
question answered "circle" is a shape question.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from seltda.core.records import Record
from seltda.eval.vqa import normalize_answer

YES_NO = "yes/no"


def answer_type(record: Record) -> str:
    """`yes/no`, `number` or `other`, from the record's majority answer (as VQA v2 names them)."""
    answer = normalize_answer(record.majority_answer())
    if answer in ("yes", "no"):
        return YES_NO
    return "number" if answer.isdigit() else "other"


def _opening(question: str) -> str:
    return " ".join(question.lower().split()[:2])


class TypeIndex:
    """Types records the way the labeled records are typed (see the module's docstring)."""

    def __init__(self, labeled: Iterable[Record]) -> None:
        by_answer: dict[str, Counter[str]] = {}
        by_opening: dict[str, Counter[str]] = {}
        for record in labeled:
            if record.question_type is None:
                continue
            answer = normalize_answer(record.majority_answer())
            by_answer.setdefault(answer, Counter())[record.question_type] += 1
            by_opening.setdefault(_opening(record.question), Counter())[record.question_type] += 1
        self._by_answer = {a: c.most_common(1)[0][0] for a, c in by_answer.items()}
        self._by_opening = {o: c.most_common(1)[0][0] for o, c in by_opening.items()}

    @property
    def typed(self) -> bool:
        """Whether the labeled records carried question types (else every type is an answer type)."""
        return bool(self._by_answer)

    def type_of(self, record: Record) -> str:
        if record.question_type is not None:
            return record.question_type
        if not self.typed:
            return answer_type(record)
        answer = normalize_answer(record.majority_answer())
        found = self._by_answer.get(answer) or self._by_opening.get(_opening(record.question))
        return found or answer_type(record)
