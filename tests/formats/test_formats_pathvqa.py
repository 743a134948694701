"""Converter of PathVQA's parquet copy: shards in the Hub layout (image struct of bytes and path, question,
answer), converted with their images and read back, and errors."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import invoke_convert as invoke
from PIL import Image

from seltda.core.records import read_records
from seltda.eval.scorers import choose_metric
from seltda.formats import FormatError, convert, read_pathvqa


def jpeg(color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="JPEG")
    return buffer.getvalue()


IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def write_shard(path: Path, rows: list[tuple[bytes | None, object, object]]) -> Path:
    """A parquet shard as the datasets library writes an Image feature."""
    table = pa.table(
        {
            "image": pa.array([{"bytes": b, "path": None} for b, _, _ in rows], type=IMAGE_TYPE),
            "question": [q for _, q, _ in rows],
            "answer": [a for _, _, a in rows],
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def test_pathvqa_parquet_shards_with_images(tmp_path: Path) -> None:
    red, blue = jpeg("red"), jpeg("blue")
    write_shard(
        tmp_path / "data" / "test-00000-of-00002.parquet",
        [(red, "what is present?", "fibrosis"), (red, "is this lung?", "yes")],
    )
    write_shard(tmp_path / "data" / "test-00001-of-00002.parquet", [(blue, "does this show necrosis?", "no")])
    result = convert("pathvqa", tmp_path / "out" / "test.jsonl", path=tmp_path / "data")
    assert (result.count, result.images_written, result.images_dir) == (3, 2, tmp_path / "out" / "images")
    records = read_records(result.out)
    assert [r.question_id for r in records] == ["0", "1", "2"]
    assert [r.image for r in records] == ["000000.jpg", "000000.jpg", "000002.jpg"]
    assert [r.answers for r in records] == [["fibrosis"], ["yes"], ["no"]]
    assert [r.answer_type for r in records] == ["other", "yes/no", "yes/no"]
    assert choose_metric(records) == ("exact", [])
    assert (result.images_dir / "000002.jpg").read_bytes() == blue  # written as it is

    written = invoke(
        "pathvqa", tmp_path / "data" / "test-00001-of-00002.parquet", "--id-offset", 7,
        "--images-out", tmp_path / "imgs", "--out", tmp_path / "one.jsonl",
    )  # fmt: skip
    assert written.exit_code == 0, written.output
    (record,) = read_records(tmp_path / "one.jsonl")
    assert (record.question_id, record.image) == ("7", "000000.jpg") and (
        tmp_path / "imgs" / "000000.jpg"
    ).exists()


def test_pathvqa_errors_name_file_row_and_column(tmp_path: Path) -> None:
    shard = write_shard(
        tmp_path / "t.parquet", [(jpeg("red"), "what is present?", "fibrosis"), (None, "q?", "a")]
    )
    with pytest.raises(FormatError) as info:
        read_pathvqa(shard, tmp_path / "images")
    assert str(info.value) == f"{shard}: row 1: column 'image': no image bytes"
    write_shard(shard, [(b"not an image", "what is present?", "fibrosis")])
    with pytest.raises(FormatError, match=r"t.parquet: row 0: unreadable image"):
        read_pathvqa(shard, tmp_path / "images")
    write_shard(shard, [(jpeg("red"), "what is present?", 3)])
    with pytest.raises(FormatError, match=r"row 0: column 'answer': expected a string, got number"):
        read_pathvqa(shard, tmp_path / "images")
    pq.write_table(pa.table({"image": [b"x"], "question": ["q?"]}), shard)
    with pytest.raises(
        FormatError, match=r"t.parquet: column 'answer' not found \(columns: image, question\)"
    ):
        read_pathvqa(shard, tmp_path / "images")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="no .parquet files"):
        read_pathvqa(tmp_path / "empty", tmp_path / "images")
