from seltda.core.records import Record
from seltda.qa_text import distinct_answers, format_target, parse_generation


def record(answers):
    return Record(question_id="1", image="a.png", question=" What is on the plate? ", answers=answers)


def test_target_lists_distinct_answers_by_frequency():
    text = format_target(record(["cake", "pie", "cake", "bread", "pie", "cake"]))
    assert text == "Question: What is on the plate? Answer: cake,pie,bread"


def test_target_all_answers_and_commas_inside_answers():
    assert (
        format_target(record(["a, b", "c"]), answers="all")
        == "Question: What is on the plate? Answer: a  b,c"
    )


def test_distinct_answers_tie_keeps_first_seen():
    assert distinct_answers(["b", "a", "a", "b", "c"]) == ["b", "a", "c"]


def test_parse_round_trip_and_tokenizer_spacing():
    parsed = parse_generation("question : what is on the plate ? answer : cake , pie , cake")
    assert parsed.question == "what is on the plate?"
    assert parsed.answers == ["cake", "pie"]
    assert parsed.weights == [2 / 3, 1 / 3]
    assert parsed.mentions == ("cake", "pie", "cake")


def test_parse_is_case_and_space_tolerant():
    parsed = parse_generation("Question:Is there a dog?Answer:yes")
    assert (parsed.question, parsed.answers) == ("Is there a dog?", ["yes"])
    assert parse_generation("question : isn ' t it red ? answer : no").question == "isn't it red?"


def test_parse_rejects_malformed_generations():
    for text in [
        "",
        "what is on the plate?",
        "question : what is it ?",
        "answer : yes",
        "question : answer : yes",
        "question : what is it ? answer :",
        "question : what is it ? answer : , ,",
    ]:
        assert parse_generation(text) is None, text


def test_parse_keeps_first_answer_block_only_once():
    parsed = parse_generation("question: what color? answer: red answer: blue")
    assert parsed.answers == ["red", "blue"]
