from pathlib import Path

from seltda.core.records import Record
from seltda.demo import easyvqa
from seltda.eval.suites import flagged, numeric, rephrasing, run_suites


def rec(qid, answers, group=None, flags=(), answer_type=None):
    return Record(
        question_id=qid,
        image="a.png",
        question="q?",
        answers=answers,
        group_id=group,
        flags=list(flags),
        answer_type=answer_type,
    )


def test_rephrasing_consistency():
    records = [
        rec("1", ["red"], "g1"),
        rec("2", ["red"], "g1"),
        rec("3", ["yes"], "g2"),
        rec("4", ["yes"], "g2"),
        rec("5", ["no"], "g3"),
        rec("6", ["no"]),
    ]
    per_question = {"1": 100.0, "2": 100.0, "3": 0.0, "4": 0.0, "5": 100.0, "6": 100.0}
    answers = {"1": "red", "2": "Red.", "3": "no", "4": "no", "5": "no", "6": "no"}
    suite = rephrasing(records, per_question, answers)
    assert suite["groups"] == 2 and suite["questions"] == 4  # g3 has one member: not a rephrasing group
    assert suite["accuracy"] == 50.0
    assert suite["consistent"] == 100.0 and suite["consistent_and_correct"] == 50.0


def test_flagged_and_numeric():
    records = [
        rec("1", ["2"], flags=["counterfactual"]),
        rec("2", ["two"]),
        rec("3", ["cat"]),
        rec("4", ["x"], answer_type="number"),
    ]
    per_question = {"1": 0.0, "2": 100.0, "3": 100.0, "4": 100.0}
    assert flagged(records, per_question) == {
        "counterfactual": {"n": 1, "accuracy": 0.0, "rest_accuracy": 100.0}
    }
    assert numeric(records, per_question) == {"n": 3, "accuracy": 66.67}
    assert set(run_suites(records, per_question, {})) == {"flag:counterfactual", "numeric"}


def test_easy_vqa_rephrasings_share_meaning():
    group = easyvqa.rephrasing_group
    assert group("i.png", "is there a red shape?") == group("i.png", "is a red shape present?")
    assert group("i.png", "is there a red shape?") != group("i.png", "is there not a red shape?")
    assert group("i.png", "what color is the shape?") == group("i.png", "what is the color of the circle?")
    assert group("i.png", "what shape is present?") != group("i.png", "what color is the shape?")
    assert group("i.png", "is there a circle?") != group("j.png", "is there a circle?")


def test_easy_vqa_oracle_agrees_with_every_answerable_ground_truth_question():
    records = easyvqa.load_split("test")
    attributes = easyvqa.image_attributes(records)
    answered = 0
    for record in records:
        known = attributes[record.image]
        verdict = easyvqa.oracle_answer(record.question, known.get("shape"), known.get("color"))
        if verdict is not None:
            answered += 1
            assert verdict == (record.question_type, record.answers[0]), record
    assert answered > 0.9 * len(records)


def test_oracle_selection_drops_wrong_and_false_premise_pairs_or_fixes_them():
    """benchmarks/oracle_selection.py: `oracle-kept` keeps the right pairs, `oracle-fixed` every answerable
    one with its true answer; a question about a shape the image lacks is dropped by both."""
    import sys

    sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
    from oracle_selection import checked

    def pair(qid, question, answer):
        return Record(question_id=qid, image="a.png", question=question, answers=[answer], source="real")

    truth = [pair("t1", "what shape is this?", "circle"), pair("t2", "what color is the circle?", "blue")]
    attributes = easyvqa.image_attributes(truth)
    assert easyvqa.record_truth(pair("x", "is there a red shape?", "no"), attributes) == ("yes/no", "no")
    pairs = [
        pair("right", "what shape is in the image?", "circle"),
        pair("wrong", "is there a blue shape?", "no"),
        pair("premise", "what color is the triangle?", "blue"),  # the image has a circle
    ]
    assert [r.question_id for r in checked(pairs, attributes, fix=False)] == ["right"]
    fixed = checked(pairs, attributes, fix=True)
    assert [(r.question_id, r.answers) for r in fixed] == [("right", ["circle"]), ("wrong", ["yes"])]


def test_yes_no_cases_split_by_attribute_and_presence():
    assert easyvqa.yes_no_case("is there a blue shape?", "circle", "blue") == "color present"
    assert easyvqa.yes_no_case("is there not a red shape?", "circle", "blue") == "color absent"
    assert easyvqa.yes_no_case("does the image contain a circle?", "circle", "blue") == "shape present"
    assert easyvqa.yes_no_case("is no triangle present?", "circle", None) == "shape absent"
    assert easyvqa.yes_no_case("what color is the circle?", "circle", "blue") is None
    assert easyvqa.yes_no_case("is there a blue shape?", "circle", None) is None


def test_accuracy_by_case_scores_each_case_from_per_question_scores():
    def record(qid, question, answer, kind):
        return Record(question_id=qid, image="a.png", question=question, answers=[answer], question_type=kind)

    records = [
        record("1", "what color is the shape?", "blue", "color"),
        record("2", "is there a blue shape?", "yes", "yes/no"),
        record("3", "is there a red shape?", "no", "yes/no"),
        record("4", "is there a green shape?", "no", "yes/no"),
    ]
    cases = easyvqa.accuracy_by_case(records, {"1": 100.0, "2": 0.0, "3": 100.0, "4": 50.0})
    assert cases == {
        "color": {"accuracy": 100.0, "n": 1},
        "yes/no, color absent": {"accuracy": 75.0, "n": 2},
        "yes/no, color present": {"accuracy": 0.0, "n": 1},
    }
