"""A practitioner's CSV (`image_path,question,answer`, one answer per row) converts without column options."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import invoke_convert as invoke

from seltda.core.records import read_records
from seltda.formats import FormatError, read_table


@pytest.mark.parametrize("image", ["image_path", "image_file", "img", "filename", "Image_Path"])
def test_common_image_column_names_are_recognised(tmp_path: Path, image: str) -> None:
    source = tmp_path / "data.csv"
    source.write_text(f"{image},question,answer\ndigits/3.png,Which digit?,3\n", encoding="utf-8")
    heard: list[tuple[str, str, str]] = []
    (record,) = read_table(source, on_alias=lambda *notice: heard.append(notice))
    assert (record.image, record.question, record.answers) == ("digits/3.png", "Which digit?", ["3"])
    assert heard == [("image", "image", image)]


def test_answer_and_question_variants(tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    source.write_text("img,question_text,answer_text\na.png,Colour?,red\n", encoding="utf-8")
    heard: list[tuple[str, str, str]] = []
    (record,) = read_table(source, on_alias=lambda *notice: heard.append(notice))
    assert (record.question, record.answers) == ("Colour?", ["red"])
    assert heard == [("image", "image", "img"), ("question", "question", "question_text"),
                     ("answer", "answer", "answer_text")]  # fmt: skip


def test_the_default_column_wins_over_an_alias(tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    source.write_text("filename,image,question,answer\nf.png,i.png,Q?,a\n", encoding="utf-8")
    heard: list[tuple[str, str, str]] = []
    (record,) = read_table(source, on_alias=lambda *notice: heard.append(notice))
    assert record.image == "i.png" and record.meta == {"filename": "f.png"} and heard == []


def test_an_explicit_column_gets_no_alias(tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    source.write_text("image_path,question,answer\na.png,Q?,a\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"'photo' not found \(columns: image_path, question, answer\)"):
        read_table(source, image_column="photo")


def test_missing_column_lists_the_header_and_the_names_tried(tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    source.write_text("picture,prompt,answer\na.png,Q?,a\n", encoding="utf-8")
    with pytest.raises(FormatError) as caught:
        read_table(source)
    message = str(caught.value)
    assert message.startswith(f"{source}:1: column 'image' not found (columns: picture, prompt, answer;")
    assert "image_path" in message and "filename" in message


def test_cli_says_which_column_was_used(tmp_path: Path) -> None:
    source = tmp_path / "digits.csv"
    source.write_text(
        "image_path,question,answer\nimgs/0.png,Which digit?,0\nimgs/0.png,Colour?,red\n", encoding="utf-8"
    )
    out = tmp_path / "records.jsonl"
    result = invoke("table", source, "--out", out)
    assert result.exit_code == 0, result.output
    assert "no 'image' column; using 'image_path' as the image column" in result.output
    assert [r.image for r in read_records(out)] == ["imgs/0.png", "imgs/0.png"]
    missing = invoke("table", source, "--out", out, "--question-column", "prompt")
    assert missing.exit_code == 2
    assert "column 'prompt' not found (columns: image_path, question, answer)" in missing.output
