"""Tests for seltda.core.records."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from seltda.core.records import (
    Provenance,
    Record,
    RecordsError,
    UnsafePathError,
    iter_located_records,
    iter_records,
    read_records,
    resolve_image_path,
    write_records,
)


def good(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "question_id": "q1",
        "image": "imgs/a.png",
        "question": "What color?",
        "answers": ["red", "red", "blue"],
    }
    data.update(overrides)
    return data


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def error_for(tmp_path: Path, rows: list[Any]) -> str:
    path = write_jsonl(tmp_path / "train.jsonl", rows)
    with pytest.raises(RecordsError) as info:
        read_records(path)
    return str(info.value)


# ---------------------------------------------------------------------------------------------- model


def test_record_defaults() -> None:
    record = Record.model_validate(good())
    assert record.source == "real"
    assert record.flags == [] and record.meta == {} and record.provenance is None


def test_integer_question_id_becomes_string() -> None:
    assert Record.model_validate(good(question_id=42)).question_id == "42"


def test_question_is_stripped_and_blank_refused() -> None:
    assert Record.model_validate(good(question=" hi? ")).question == "hi?"
    with pytest.raises(ValidationError):
        Record.model_validate(good(question="   "))


def test_synthetic_requires_provenance() -> None:
    with pytest.raises(ValidationError, match="provenance"):
        Record.model_validate(good(source="synthetic"))
    record = Record.model_validate(good(source="synthetic", provenance={"teacher": "blip", "score": 0.5}))
    assert record.provenance == Provenance(teacher="blip", score=0.5)


def test_answer_weights_order_and_majority() -> None:
    record = Record.model_validate(good(answers=["b", "a", "a", "b", "c", "a"]))
    weights = record.answer_weights()
    assert list(weights) == ["a", "b", "c"]
    assert weights == pytest.approx({"a": 0.5, "b": 2 / 6, "c": 1 / 6})
    assert record.majority_answer() == "a"
    tie = Record.model_validate(good(answers=["x", "y", "y", "x"]))
    assert tie.majority_answer() == "x"


@pytest.mark.parametrize("image", ["/etc/passwd", "C:/x.png", "../up.png", "a/../../b.png", ""])
def test_record_refuses_unsafe_image(image: str) -> None:
    with pytest.raises(ValidationError):
        Record.model_validate(good(image=image))


def test_record_normalises_backslashes() -> None:
    assert Record.model_validate(good(image="a\\b.png")).image == "a/b.png"


# ------------------------------------------------------------------------------------------ reading errors


def test_missing_field_names_file_line_field(tmp_path: Path) -> None:
    row = good(question_id="q2")
    del row["question"]
    message = error_for(tmp_path, [good(), "", row])
    assert message == f"{tmp_path / 'train.jsonl'}:3: field 'question': Field required"


def test_wrong_type(tmp_path: Path) -> None:
    message = error_for(tmp_path, [good(answers="red")])
    assert message.endswith("train.jsonl:1: field 'answers': Input should be a valid list")


def test_non_string_answer_names_index(tmp_path: Path) -> None:
    message = error_for(tmp_path, [good(answers=["red", 3])])
    assert "train.jsonl:1: field 'answers[1]': Input should be a valid string" in message


def test_empty_answers(tmp_path: Path) -> None:
    message = error_for(tmp_path, [good(answers=[])])
    assert "train.jsonl:1: field 'answers':" in message and "at least 1" in message


def test_extra_field(tmp_path: Path) -> None:
    message = error_for(tmp_path, [good(qestion_type="x")])
    assert "train.jsonl:1: field 'qestion_type': unknown field" in message


def test_nested_provenance_error(tmp_path: Path) -> None:
    message = error_for(tmp_path, [good(source="synthetic", provenance={"score": 1})])
    assert "train.jsonl:1: field 'provenance.teacher': Field required" in message


def test_synthetic_without_provenance_in_file(tmp_path: Path) -> None:
    message = error_for(tmp_path, [good(source="synthetic")])
    assert "train.jsonl:1: field 'provenance': required when source is 'synthetic'" in message


def test_bad_json(tmp_path: Path) -> None:
    message = error_for(tmp_path, [good(), '{"question_id": "q2",'])
    assert "train.jsonl:2:22: invalid JSON: Expecting property name enclosed in double quotes" in message


def test_not_an_object(tmp_path: Path) -> None:
    message = error_for(tmp_path, [[1, 2]])
    assert "train.jsonl:1: expected a JSON object" in message and "got array" in message


def test_duplicate_question_id(tmp_path: Path) -> None:
    message = error_for(tmp_path, ["", "", good(), good(question_id="q2"), good()])
    assert message.endswith("train.jsonl:5: field 'question_id': duplicate 'q1' (first seen on line 3)")


def test_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(json.dumps(good()).encode() + b"\n\xff\xfe\n")
    with pytest.raises(RecordsError, match=r"train\.jsonl:2: not valid UTF-8"):
        read_records(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RecordsError, match="file not found"):
        read_records(tmp_path / "nope.jsonl")


def test_records_errors_are_shown_as_user_errors(tmp_path: Path) -> None:
    """A bad records file or an unsafe image path ends a command with one line and exit code 2."""
    import typer

    from seltda.cli.errors import user_errors

    (tmp_path / "train.jsonl").write_text("[1]\n", encoding="utf-8")
    for action in (
        lambda: read_records(tmp_path / "train.jsonl"),
        lambda: resolve_image_path(tmp_path, "/etc"),
    ):
        with pytest.raises(typer.Exit) as stopped:
            user_errors(action)()
        assert stopped.value.exit_code == 2


# ---------------------------------------------------------------------------------------------- reading ok


def test_blank_lines_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    text = "\ufeff" + json.dumps(good()) + "\r\n\r\n  \n" + json.dumps(good(question_id="q2")) + "\r\n"
    path.write_bytes(text.encode("utf-8"))
    assert [r.question_id for r in read_records(path)] == ["q1", "q2"]


def test_iter_located_records(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", ["", good()])
    assert [(loc, r.question_id) for loc, r in iter_located_records(path)] == [(f"{path}:2", "q1")]
    assert next(iter_records(path)).question_id == "q1"


def test_json_list_file(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps([good(), good(question_id="q2")]))
    assert len(read_records(path)) == 2
    path.write_text(json.dumps([good(), good(question_id="q2", answers=[]), good()]))
    with pytest.raises(RecordsError, match=r"d\.json: item 1: field 'answers'"):
        read_records(path)
    path.write_text(json.dumps([good(), good()]))
    with pytest.raises(
        RecordsError, match=r"item 1: field 'question_id': duplicate 'q1' \(first seen on item 0\)"
    ):
        read_records(path)


def test_json_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps(good()))
    with pytest.raises(RecordsError, match="expected a JSON list of records, got object"):
        read_records(path)
    path.write_text("[\n{\n")
    with pytest.raises(RecordsError, match=r"d\.json:3:1: invalid JSON"):
        read_records(path)


# ---------------------------------------------------------------------------------------------- writing


def test_round_trip_keeps_duplicates_and_drops_defaults(tmp_path: Path) -> None:
    records = [
        Record.model_validate(good(answers=["yes", "yes", "no", "yes"], meta={"k": None})),
        Record.model_validate(
            good(
                question_id="s1",
                source="synthetic",
                flags=["counterfactual"],
                provenance={"teacher": "t", "sampling": {"top_p": 0.9}, "raw_text": "Q: A:"},
            )
        ),
    ]
    path = write_records(tmp_path / "out" / "r.jsonl", records)
    lines = path.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert list(first) == ["question_id", "image", "question", "answers", "meta"]
    assert " " not in lines[0].replace("What color?", "")
    second = json.loads(lines[1])
    assert second["provenance"] == {"teacher": "t", "sampling": {"top_p": 0.9}, "raw_text": "Q: A:"}
    assert read_records(path) == records
    assert read_records(path)[0].answers == ["yes", "yes", "no", "yes"]


def test_write_keeps_unicode_line_separator_on_one_line(tmp_path: Path) -> None:
    record = Record.model_validate(good(question="a\u2028b?"))
    path = write_records(tmp_path / "r.jsonl", [record])
    assert read_records(path) == [record]


# ---------------------------------------------------------------------------------------------- paths


def test_resolve_nested_path(tmp_path: Path) -> None:
    (tmp_path / "imgs" / "sub").mkdir(parents=True)
    (tmp_path / "imgs" / "sub" / "a.png").write_bytes(b"x")
    assert resolve_image_path(tmp_path, "imgs/sub/a.png") == (tmp_path / "imgs/sub/a.png").resolve()


@pytest.mark.parametrize("relative", ["../secret.png", "a/../../secret.png", "/etc/passwd", "C:\\x.png", ""])
def test_resolve_refuses_escapes(tmp_path: Path, relative: str) -> None:
    with pytest.raises(UnsafePathError):
        resolve_image_path(tmp_path / "root", relative)


def test_resolve_refuses_symlink_outside_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"x")
    os.symlink(outside, root / "link.png")
    os.symlink(tmp_path, root / "dirlink")
    with pytest.raises(UnsafePathError, match="outside the image root"):
        resolve_image_path(root, "link.png")
    with pytest.raises(UnsafePathError):
        resolve_image_path(root, "dirlink/secret.png")


def test_resolve_allows_symlink_inside_root(tmp_path: Path) -> None:
    (tmp_path / "real.png").write_bytes(b"x")
    os.symlink(tmp_path / "real.png", tmp_path / "alias.png")
    assert resolve_image_path(tmp_path, "alias.png") == (tmp_path / "real.png").resolve()


def test_majority_weights_and_ties() -> None:
    from seltda.core.records import majority

    assert majority(["b", "a", "a", "b", "c"]) == "b"  # tie: the first to appear
    assert majority(["x", "y"], [0.25, 0.75]) == "y"
    assert majority(["x", "y", "x"], [0.25, 0.4, 0.25]) == "x"  # weights of one answer add up
