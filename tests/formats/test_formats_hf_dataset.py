"""Converter of Hugging Face datasets folders: hand-made samples, converted and read back."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from seltda.core.records import Record, read_records
from seltda.formats import (
    FormatError,
    convert,
)


def test_hf_dataset_writes_distinct_images_once(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict, Features, Sequence, Value
    from datasets import Image as ImageFeature

    red, blue = Image.new("RGB", (8, 8), "red"), Image.new("RGB", (8, 8), "blue")
    features = Features(
        {
            "image": ImageFeature(),
            "question": Value("string"),
            "answers": Sequence(Value("string")),
            "question_type": Value("string"),
        }
    )
    data = {
        "image": [red, red, blue],
        "question": ["what color is it?", "is it red?", "what color is it?"],
        "answers": [["red", "red", "dark red"], ["yes"], ["blue"]],
        "question_type": ["color", "yes/no", "color"],
    }
    DatasetDict({"train": Dataset.from_dict(data, features=features)}).save_to_disk(tmp_path / "ds")
    result = convert("hf-dataset", tmp_path / "out" / "train.jsonl", path=tmp_path / "ds", split="train")
    assert (result.count, result.images_written) == (3, 2)
    assert result.images_dir == tmp_path / "out" / "images"
    records = read_records(tmp_path / "out" / "train.jsonl")
    assert [r.question_id for r in records] == ["row-0", "row-1", "row-2"]
    assert [r.image for r in records] == ["000000.png", "000000.png", "000002.png"]
    assert records[0].answers == ["red", "red", "dark red"] and records[0].question_type == "color"
    assert sorted(p.name for p in result.images_dir.iterdir()) == ["000000.png", "000002.png"]
    with Image.open(result.images_dir / "000002.png") as image:
        assert image.getpixel((0, 0)) == (0, 0, 255)

    single = {"image": [blue], "question": ["what color?"], "answer": ["blue"], "question_id": [42]}
    single_features = Features(
        {
            "image": ImageFeature(),
            "question": Value("string"),
            "answer": Value("string"),
            "question_id": Value("int64"),
        }
    )
    Dataset.from_dict(single, features=single_features).save_to_disk(tmp_path / "single")
    result = convert(
        "hf-dataset", tmp_path / "s.jsonl", path=tmp_path / "single", images_out=tmp_path / "pngs"
    )
    (record,) = read_records(tmp_path / "s.jsonl")
    assert (record.question_id, record.image, record.answers) == ("42", "000000.png", ["blue"])
    assert (tmp_path / "pngs" / "000000.png").is_file()
    with pytest.raises(FormatError, match=r"no split 'test' \(splits: train\)"):
        convert("hf-dataset", tmp_path / "x.jsonl", path=tmp_path / "ds", split="test")
    with pytest.raises(FormatError, match=r"column 'query' not found"):
        convert("hf-dataset", tmp_path / "x.jsonl", path=tmp_path / "ds", question_column="query")


def test_pseudolabels_written_as_a_datasets_folder_round_trip(tmp_path):
    import datasets
    from PIL import Image

    from seltda.core.records import Provenance
    from seltda.formats import read_hf_dataset, write_hf_dataset

    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (8, 8), "red").save(tmp_path / "imgs" / "a.png")
    records = [
        Record(
            question_id="s1",
            image="imgs/a.png",
            question="what color?",
            answers=["red", "red"],
            source="synthetic",
            provenance=Provenance(teacher="t", score=-0.5, raw_text="question: ..."),
        ),
    ]
    out = write_hf_dataset(records, tmp_path, tmp_path / "ds")
    loaded = datasets.load_from_disk(str(out))
    assert loaded[0]["question"] == "what color?" and loaded[0]["answers"] == ["red", "red"]
    assert loaded[0]["image"].size == (8, 8) and loaded[0]["score"] == -0.5
    back = read_hf_dataset(out, tmp_path / "back")
    assert back.records[0].answers == ["red", "red"] and back.records[0].question_id == "s1"
