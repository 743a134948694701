"""Typing questions that carry no type the way the labeled records are typed."""

from __future__ import annotations

from seltda.core.records import Record
from seltda.eval.question_types import TypeIndex, answer_type


def _record(qid, question, answer, kind=None):
    return Record(question_id=qid, image="a.png", question=question, answers=[answer], question_type=kind)


LABELED = [
    _record("1", "What shape is in the image?", "circle", "shape"),
    _record("2", "What color is the shape?", "red", "color"),
    _record("3", "Is there a circle?", "yes", "yes/no"),
    _record("4", "What shape is this?", "rectangle", "shape"),
]


def test_a_pseudo_label_takes_the_type_of_labeled_questions_with_its_answer():
    index = TypeIndex(LABELED)
    assert index.type_of(_record("s1", "Which figure is drawn?", "circle")) == "shape"
    assert index.type_of(_record("s2", "what is the colour?", "Red")) == "color"
    # "no" was never a labeled answer: its answer type
    assert index.type_of(_record("s3", "Does it contain a square?", "no")) == "yes/no"
    # an unseen answer falls back to the question's opening words
    assert index.type_of(_record("s4", "What shape is it?", "triangle")) == "shape"
    # a record's own type wins
    assert index.type_of(_record("s5", "What shape?", "circle", "mine")) == "mine"


def test_untyped_labeled_records_give_answer_types():
    index = TypeIndex([_record("1", "How many?", "3")])
    assert not index.typed
    assert index.type_of(_record("s", "How many dogs?", "2")) == "number"
    assert index.type_of(_record("s", "What is it?", "dog")) == "other"
    assert answer_type(_record("s", "Is it?", "Yes")) == "yes/no"
