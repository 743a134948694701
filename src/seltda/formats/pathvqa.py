"""PathVQA (He et al. 2020) from its parquet copy -> image files + records.

Layout: the ``datasets`` copy ``flaviagiammarino/path-vqa`` on the Hugging Face Hub (``data/<split>-0000N-of-
0000M.parquet``, or ``default/<split>/000N.parquet`` in the Hub's parquet conversion), columns ``image`` (an
Image feature: a struct of ``bytes`` and ``path``), ``question`` and ``answer``. The pickle release is never
read (unpickling runs code). One answer per question: exact match, as SelTDA's ``pathvqa_eval.py`` scores it,
with accuracy per answer type (``yes/no`` or ``other``).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from seltda.core.fileio import atomic_write_bytes
from seltda.formats._common import FormatError, build_record, check_unique_ids, display, json_type
from seltda.formats.aqua import yes_no_or_other
from seltda.formats.hf_dataset import HfConversion

__all__ = ["read_pathvqa"]

_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif", "BMP": ".bmp", "GIF": ".gif", "WEBP": ".webp"}
_BATCH = 256


def read_pathvqa(
    path: str | os.PathLike[str],
    images_out: str | os.PathLike[str],
    *,
    image_column: str = "image",
    question_column: str = "question",
    answer_column: str = "answer",
    id_offset: int = 0,
    image_prefix: str = "",
) -> HfConversion:
    """Convert a parquet file, or every ``*.parquet`` of a folder in name order, and write the images.

    Each distinct image (same bytes) is written once, as it is, to ``<images_out>/<row>.<ext>`` (row: the
    first row using it, 6 digits; ext from the decoded format); records point at ``<image_prefix><file>``.
    Question ids are ``id_offset`` + the row's index over all files.
    """
    files = _parquet_files(Path(path))
    result = HfConversion(records=[], images_written=0, images_dir=Path(images_out))
    columns = (image_column, question_column, answer_column)
    located = []
    for index, (location, row) in enumerate(_rows(files, columns)):
        file_name = _store(_image_bytes(row[image_column], location, image_column), index, location, result)
        answer = _text(row[answer_column], location, answer_column)
        located.append(
            (
                location,
                build_record(
                    location,
                    aliases={"answers": answer_column, "question": question_column},
                    question_id=id_offset + index,
                    image=f"{image_prefix}{file_name}",
                    question=_text(row[question_column], location, question_column),
                    answers=[answer],
                    answer_type=yes_no_or_other(answer),
                    meta={"dataset": "pathvqa", "metric": "exact"},
                ),
            )
        )
    result.records = check_unique_ids(located)
    return result


def _parquet_files(path: Path) -> list[Path]:
    """The file itself, or a folder's parquet files in name order."""
    if path.is_dir():
        files = sorted(path.glob("*.parquet"))
        if not files:
            raise FormatError(f"{display(path)}: no .parquet files in this folder")
        return files
    if not path.is_file():
        raise FormatError(f"{display(path)}: no such file or folder")
    return [path]


def _rows(files: list[Path], columns: tuple[str, ...]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(location, row)`` over the files, reading only the needed columns, a batch at a time."""
    import pyarrow.parquet as pq

    for file in files:
        name = display(file)
        try:
            parquet = pq.ParquetFile(file)
        except Exception as exc:  # pyarrow raises several types for a file that is not parquet
            raise FormatError(f"{name}: not a readable parquet file ({type(exc).__name__}: {exc})") from exc
        present = parquet.schema_arrow.names
        for column in columns:
            if column not in present:
                raise FormatError(f"{name}: column '{column}' not found (columns: {', '.join(present)})")
        row_index = 0
        for batch in parquet.iter_batches(batch_size=_BATCH, columns=list(columns)):
            for row in batch.to_pylist():
                yield f"{name}: row {row_index}", row
                row_index += 1


def _image_bytes(cell: Any, location: str, column: str) -> bytes:
    """The encoded image of a cell: raw bytes, or an Image struct's ``bytes`` (else its ``path``)."""
    if isinstance(cell, bytes) and cell:
        return cell
    if isinstance(cell, dict):
        if cell.get("bytes"):
            return bytes(cell["bytes"])
        if cell.get("path"):
            try:
                return Path(cell["path"]).read_bytes()
            except OSError as exc:
                raise FormatError(
                    f"{location}: column '{column}': cannot read {cell['path']}: {exc}"
                ) from exc
    raise FormatError(f"{location}: column '{column}': no image bytes")


def _store(data: bytes, index: int, location: str, result: HfConversion) -> str:
    """Write the image unless identical bytes were already written; its file name."""
    digest = hashlib.sha256(data).hexdigest()
    if digest in result.image_files:
        return result.image_files[digest]
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format or ""
            image.verify()
    except Exception as exc:  # any undecodable image is the user's data problem
        raise FormatError(f"{location}: unreadable image ({type(exc).__name__}: {exc})") from exc
    file_name = f"{index:06d}{_EXTENSIONS.get(image_format, '.img')}"
    atomic_write_bytes(result.images_dir / file_name, data)
    result.image_files[digest] = file_name
    result.images_written += 1
    return file_name


def _text(value: Any, location: str, column: str) -> str:
    """A string cell."""
    if not isinstance(value, str):
        raise FormatError(f"{location}: column '{column}': expected a string, got {json_type(value)}")
    return value
