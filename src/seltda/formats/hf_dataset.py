"""A Hugging Face ``datasets`` folder (``save_to_disk``) with an image column -> PNG files + records."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from seltda.core.fileio import atomic_write_bytes
from seltda.core.images import to_rgb
from seltda.core.records import Record
from seltda.formats._common import FormatError, build_record, check_unique_ids, display, json_type

__all__ = ["HfConversion", "export_dataset_images", "is_saved_dataset", "read_hf_dataset", "write_hf_dataset"]

_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA"}
_ANSWER_ALIASES = ("answers",)


@dataclass
class HfConversion:
    """The records and how many distinct images were written."""

    records: list[Record]
    images_written: int
    images_dir: Path
    image_files: dict[str, str] = field(default_factory=dict)  # sha256 of the source bytes -> file name


def read_hf_dataset(
    path: str | os.PathLike[str],
    images_out: str | os.PathLike[str],
    *,
    split: str | None = None,
    image_column: str = "image",
    question_column: str = "question",
    answer_column: str = "answer",
    id_column: str = "question_id",
    image_prefix: str = "",
) -> HfConversion:
    """Convert a saved ``Dataset`` (or one split of a ``DatasetDict``) and write its images.

    Each distinct image (same source bytes -> same file) is written once as
    ``<images_out>/<row index>.png`` (index of the first row using it, zero-padded to 6 digits).
    Records point at ``<image_prefix><file name>``, i.e. relative to ``images_out`` by default.
    The answer cell may be a string, a list of strings or a VQA-style list of ``{"answer": ...}``.
    Ids come from ``id_column`` when the dataset has it, else ``row-<index>``.
    """
    name = display(path)
    dataset = _load(path, name, split)
    location_of = (
        (lambda index: f"{name}[{split}]: row {index}") if split else (lambda index: f"{name}: row {index}")
    )
    columns = set(dataset.column_names)
    answer_column = _answer_column(answer_column, columns)
    for column in (image_column, question_column, answer_column):
        if column not in columns:
            raise FormatError(
                f"{name}: column '{column}' not found (columns: {', '.join(dataset.column_names)})"
            )
    dataset = _raw_images(dataset, image_column, name)
    out_dir = Path(images_out)
    result = HfConversion(records=[], images_written=0, images_dir=out_dir)
    located = []
    for index, row in enumerate(dataset):
        location = location_of(index)
        file_name = _store_image(row[image_column], index, location, image_column, result)
        qid = row.get(id_column) if id_column in columns else None
        located.append(
            (
                location,
                build_record(
                    location,
                    aliases={"answers": answer_column, "question": question_column, "question_id": id_column},
                    question_id=f"row-{index}" if qid is None else qid,
                    image=f"{image_prefix}{file_name}",
                    question=_text(row[question_column], location, question_column),
                    answers=_answers(row[answer_column], location, answer_column),
                    question_type=_optional_text(row.get("question_type")),
                    answer_type=_optional_text(row.get("answer_type")),
                ),
            )
        )
    result.records = check_unique_ids(located)
    return result


def is_saved_dataset(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a folder written by `save_to_disk` (a Dataset or a DatasetDict)."""
    folder = Path(path)
    return folder.is_dir() and any(
        (folder / marker).is_file() for marker in ("state.json", "dataset_dict.json", "dataset_info.json")
    )


def export_dataset_images(
    path: str | os.PathLike[str],
    images_out: str | os.PathLike[str],
    *,
    split: str | None = None,
    image_column: str = "image",
) -> tuple[list[str], dict[str, int]]:
    """Write the image column of a saved dataset as files (`<row index>.img`, the source bytes as they
    are) so an unlabeled pool held in a `datasets` folder is labeled like an image folder. Rows without an
    image are counted, never fatal; undecodable bytes are left for the image loader to skip and report.
    Returns the file names (sorted) and the skip counts."""
    name = display(path)
    dataset = _raw_images(_load(path, name, split), image_column, name)
    out_dir = Path(images_out)
    names: list[str] = []
    skips: dict[str, int] = {}
    for index, row in enumerate(dataset):
        file_name = f"{index:08d}.img"
        try:
            data = _image_bytes(row[image_column], f"{name}: row {index}", image_column)
        except FormatError:
            skips["missing"] = skips.get("missing", 0) + 1
            continue
        if not (out_dir / file_name).exists():
            atomic_write_bytes(out_dir / file_name, data)
        names.append(file_name)
    return names, skips


def _load(path: str | os.PathLike[str], name: str, split: str | None) -> Any:
    """The saved dataset, or the requested split of a saved DatasetDict."""
    from datasets import DatasetDict, load_from_disk

    if not Path(path).is_dir():
        raise FormatError(f"{name}: not a folder (expected a dataset saved with save_to_disk)")
    try:
        loaded = load_from_disk(str(path))
    except FileNotFoundError as exc:
        raise FormatError(f"{name}: not a dataset saved with save_to_disk ({exc})") from exc
    if not isinstance(loaded, DatasetDict):
        if split is not None:
            raise FormatError(f"{name}: a single dataset has no splits; drop the split option")
        return loaded
    if split is None:
        if len(loaded) != 1:
            raise FormatError(f"{name}: holds splits {', '.join(loaded)}; choose one with the split option")
        return next(iter(loaded.values()))
    if split not in loaded:
        raise FormatError(f"{name}: no split {split!r} (splits: {', '.join(loaded)})")
    return loaded[split]


def _answer_column(wanted: str, columns: set[str]) -> str:
    """The answer column, falling back to ``answers`` when the default is absent."""
    if wanted == "answer" and wanted not in columns:
        return next((alias for alias in _ANSWER_ALIASES if alias in columns), wanted)
    return wanted


def _raw_images(dataset: Any, column: str, name: str) -> Any:
    """The dataset with the image column left undecoded (``{"bytes", "path"}`` dicts)."""
    from datasets import Image as ImageFeature

    if not isinstance(dataset.features[column], ImageFeature):
        raise FormatError(
            f"{name}: column '{column}' is {type(dataset.features[column]).__name__}, not an Image feature"
        )
    return dataset.cast_column(column, ImageFeature(decode=False))


def _store_image(cell: Any, index: int, location: str, column: str, result: HfConversion) -> str:
    """Write the row's image as PNG unless identical bytes were already written; its file name."""
    data = _image_bytes(cell, location, column)
    digest = hashlib.sha256(data).hexdigest()
    if digest in result.image_files:
        return result.image_files[digest]
    file_name = f"{index:06d}.png"
    atomic_write_bytes(result.images_dir / file_name, _to_png(data, location, column))
    result.image_files[digest] = file_name
    result.images_written += 1
    return file_name


def _image_bytes(cell: Any, location: str, column: str) -> bytes:
    """The encoded image of an undecoded Image cell (embedded bytes, else the referenced file)."""
    if not isinstance(cell, dict) or not (cell.get("bytes") or cell.get("path")):
        raise FormatError(f"{location}: column '{column}': no image")
    if cell.get("bytes"):
        return bytes(cell["bytes"])
    try:
        return Path(cell["path"]).read_bytes()
    except OSError as exc:
        raise FormatError(f"{location}: column '{column}': cannot read {cell['path']}: {exc}") from exc


def _to_png(data: bytes, location: str, column: str) -> bytes:
    """Re-encode an image as PNG (modes PNG cannot hold are converted to RGB)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode not in _PNG_MODES:
                image = to_rgb(image)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
    except Exception as exc:  # any undecodable image is the user's data problem
        raise FormatError(
            f"{location}: column '{column}': unreadable image ({type(exc).__name__}: {exc})"
        ) from exc
    return buffer.getvalue()


def _text(value: Any, location: str, column: str) -> str:
    """A string cell."""
    if not isinstance(value, str):
        raise FormatError(f"{location}: column '{column}': expected a string, got {json_type(value)}")
    return value


def _optional_text(value: Any) -> str | None:
    """A non-empty string cell, else None."""
    return value if isinstance(value, str) and value.strip() else None


def _answers(value: Any, location: str, column: str) -> list[str]:
    """A string, a list of strings or a list of ``{"answer": str}`` as a list of answers."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and isinstance(value.get("answer"), list):  # a Sequence of dicts feature
        value = value["answer"]
    if not isinstance(value, list) or not value:
        raise FormatError(f"{location}: column '{column}': expected a string or a non-empty list of strings")
    answers = []
    for position, entry in enumerate(value):
        if isinstance(entry, dict):
            entry = entry.get("answer")
        if not isinstance(entry, str):
            raise FormatError(
                f"{location}: column '{column}[{position}]': expected a string, got {json_type(entry)}"
            )
        answers.append(entry)
    return answers


def write_hf_dataset(
    records: list[Record], image_root: str | os.PathLike[str], out: str | os.PathLike[str]
) -> Path:
    """Records -> a `datasets` folder (`save_to_disk`): images as an `Image` feature, answers as lists.

    Synthetic records keep their provenance (teacher, score, raw text) as columns. `load_from_disk`
    reads it back; `read_hf_dataset` turns it into records again.
    """
    import datasets

    from seltda.core.records import resolve_image_path

    root = Path(image_root)
    columns: dict[str, list[Any]] = {
        "question_id": [],
        "image": [],
        "image_path": [],
        "question": [],
        "answers": [],
        "question_type": [],
        "source": [],
        "score": [],
        "raw_text": [],
    }
    for record in records:
        columns["question_id"].append(record.question_id)
        columns["image"].append(str(resolve_image_path(root, record.image)))
        columns["image_path"].append(record.image)
        columns["question"].append(record.question)
        columns["answers"].append(list(record.answers))
        columns["question_type"].append(record.question_type)
        columns["source"].append(record.source)
        columns["score"].append(record.provenance.score if record.provenance else None)
        columns["raw_text"].append(record.provenance.raw_text if record.provenance else None)
    features = datasets.Features(
        {
            "question_id": datasets.Value("string"),
            "image": datasets.Image(),
            "image_path": datasets.Value("string"),
            "question": datasets.Value("string"),
            "answers": datasets.Sequence(datasets.Value("string")),
            "question_type": datasets.Value("string"),
            "source": datasets.Value("string"),
            "score": datasets.Value("float64"),
            "raw_text": datasets.Value("string"),
        }
    )
    dataset = datasets.Dataset.from_dict(columns, features=features)
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    dataset.save_to_disk(str(partial))  # embeds the image bytes
    if out.exists():
        import shutil

        shutil.rmtree(out)
    partial.rename(out)
    return out
