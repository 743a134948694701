"""Converter of CSV/TSV tables: hand-made samples, converted and read back."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import invoke_convert as invoke

from seltda.core.records import read_records
from seltda.formats import (
    FormatError,
    read_table,
)


def test_table_csv_with_aliases_and_multiple_answers(tmp_path: Path) -> None:
    source = tmp_path / "vqa_rad.csv"
    source.write_text(
        "qid,Image_Name,Question,Answers,question_type,answer_type,phrase_type\n"
        "1,synpic54610.jpg,Is there evidence of an aortic aneurysm?,yes,PRES,CLOSED,freeform\n"
        '2,synpic42202,"Which organ is abnormal, heart or lung?",lung | lungs,ORGAN,OPEN,para\n'
        "\n"
        "3,images/synpic100.png,Is this a CT scan?,no,MODALITY,CLOSED,\n",
        encoding="utf-8",
    )
    records = read_table(source)
    assert [r.question_id for r in records] == ["1", "2", "3"]
    assert [r.image for r in records] == ["synpic54610.jpg", "synpic42202.jpg", "images/synpic100.png"]
    assert (
        records[1].answers == ["lung", "lungs"]
        and records[1].question == "Which organ is abnormal, heart or lung?"
    )
    assert (records[0].question_type, records[0].answer_type) == ("PRES", "CLOSED")
    assert records[0].meta == {"phrase_type": "freeform"} and records[2].meta == {}


def test_table_tsv_without_ids(tmp_path: Path) -> None:
    source = tmp_path / "pathvqa_train.tsv"
    source.write_text(
        "image\tquestion\tanswer\ntrain_0422\twhat does this image show?\tlung\n"
        'train_0423\t"is there\nfibrosis?"\tyes\ntrain_0424\twhere is this?\tliver\n',
        encoding="utf-8",
    )
    records = read_table(source, image_ext="png")
    assert [r.question_id for r in records] == ["row-2", "row-3", "row-5"]  # 1-based line of each row
    assert records[0].image == "train_0422.png" and records[2].answers == ["liver"]


def test_table_errors_name_file_line_and_column(tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    source.write_text("image,question,answer\na.jpg,Is it red?,yes\nb.jpg,,no\n", encoding="utf-8")
    with pytest.raises(FormatError, match=rf"^{source}:3: column 'question': empty$"):
        read_table(source)
    source.write_text("pic,question,answer\na.jpg,Is it red?,yes\n", encoding="utf-8")
    with pytest.raises(FormatError, match=rf"^{source}:1: column 'image' not found \(columns: pic, question"):
        read_table(source)
    assert read_table(source, image_column="PIC")[0].image == "a.jpg"
    source.write_text("image,question,answer\na.jpg,Is it red?,yes,extra\n", encoding="utf-8")
    with pytest.raises(FormatError, match=rf"^{source}:2: expected 3 cells"):
        read_table(source)
    source.write_text(
        "question_id,image,question,answer\n7,a.jpg,Red?,yes\n7,b.jpg,Blue?,no\n", encoding="utf-8"
    )
    with pytest.raises(FormatError, match=rf"{source}:3: duplicate question_id '7' \(first at {source}:2\)"):
        read_table(source)
    source.write_bytes(b'image,question,answer\r\n"a.jpg",Is it\r\nred?,yes\r\n\xff.jpg,Blue?,no\r\n')
    with pytest.raises(FormatError, match=rf"^{source}:4: not valid utf-8"):
        read_table(source)


def test_cli_table_and_error(tmp_path: Path) -> None:
    source = tmp_path / "data.tsv"
    source.write_text("Image\tQuestion\tAnswer\nimg1\tIs it red?\tyes|yeah\n", encoding="utf-8")
    out = tmp_path / "records.jsonl"
    result = invoke("table", source, "--out", out, "--image-ext", ".png")
    assert result.exit_code == 0, result.output
    (record,) = read_records(out)
    assert (record.image, record.answers, record.question_id) == ("img1.png", ["yes", "yeah"], "row-2")
    source.write_text("Image\tQuestion\tAnswer\nimg1\tIs it red?\t\n", encoding="utf-8")
    bad = invoke("table", source, "--out", out)
    assert bad.exit_code == 2 and "data.tsv:2: column 'Answer': empty" in bad.output
