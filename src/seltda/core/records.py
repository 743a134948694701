"""The canonical VQA record (one question per JSONL line) and its reading, writing and path checks."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from seltda.core.errors import describe_validation
from seltda.core.fileio import SeltdaInputError, read_json
from seltda.core.jsonl import iter_jsonl, write_jsonl

__all__ = [
    "Provenance",
    "Record",
    "RecordsError",
    "UnsafePathError",
    "iter_located_records",
    "iter_records",
    "majority",
    "read_records",
    "record_to_json",
    "resolve_image_path",
    "write_records",
]

_ALWAYS_WRITTEN = ("question_id", "image", "question", "answers")
_EXTRA_FIELD = "unknown field (check the spelling; put extra data under 'meta')"


def majority(answers: Sequence[str], weights: Sequence[float] | None = None) -> str:
    """The answer with the largest total weight (each answer weighs 1 without `weights`); ties go to the
    one that appears first."""
    totals: dict[str, float] = {}
    for index, answer in enumerate(answers):
        totals[answer] = totals.get(answer, 0.0) + (1.0 if weights is None else weights[index])
    return max(totals, key=totals.__getitem__)  # max keeps the first of equal totals (insertion order)


class RecordsError(SeltdaInputError):
    """A records file is unreadable or holds an invalid record."""


class UnsafePathError(SeltdaInputError):
    """An image path is absolute or points outside the image root."""


class Provenance(BaseModel):
    """Where a synthetic record came from."""

    model_config = ConfigDict(extra="forbid")

    teacher: str
    sampling: dict[str, Any] = {}
    score: float | None = None
    sample_index: int | None = None
    raw_text: str | None = None
    roundtrip_answer: str | None = None  # what the round-trip VQA model answered, when that filter ran


class Record(BaseModel):
    """One visual question with all of its annotator answers (duplicates kept)."""

    model_config = ConfigDict(extra="forbid")

    question_id: str = Field(min_length=1)
    image: str = Field(min_length=1)
    question: str
    answers: list[str] = Field(min_length=1)
    question_type: str | None = None
    answer_type: str | None = None
    rationale: str | None = None
    group_id: str | None = None
    flags: list[str] = []
    source: Literal["real", "synthetic"] = "real"
    # Declared after ``source`` so the validator below can see it; validate_default runs it when absent.
    provenance: Provenance | None = Field(default=None, validate_default=True)
    meta: dict[str, Any] = {}

    @field_validator("question_id", mode="before")
    @classmethod
    def _int_ids_to_str(cls, value: Any) -> Any:
        """Accept integer ids (as in VQAv2) and store them as strings."""
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("image")
    @classmethod
    def _relative_image(cls, value: str) -> str:
        """Require a relative path below the image root, written with forward slashes."""
        value = value.replace("\\", "/")
        problem = _lexical_path_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("question")
    @classmethod
    def _non_blank_question(cls, value: str) -> str:
        """Strip surrounding whitespace; refuse a blank question."""
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("answers")
    @classmethod
    def _non_blank_answers(cls, value: list[str]) -> list[str]:
        """Refuse blank answers (the list itself is kept as is, duplicates included)."""
        for index, answer in enumerate(value):
            if not answer.strip():
                raise ValueError(f"answer {index} is empty")
        return value

    @field_validator("provenance")
    @classmethod
    def _synthetic_needs_provenance(cls, value: Provenance | None, info: ValidationInfo) -> Provenance | None:
        """A synthetic record must say which teacher produced it."""
        if value is None and info.data.get("source") == "synthetic":
            raise ValueError("required when source is 'synthetic'")
        return value

    def answer_weights(self) -> dict[str, float]:
        """Distinct answers mapped to their share of all answers, most frequent (then earliest) first."""
        counts: dict[str, int] = {}
        for answer in self.answers:
            counts[answer] = counts.get(answer, 0) + 1
        total = len(self.answers)
        ordered = sorted(counts.items(), key=lambda item: -item[1])  # stable: ties keep first appearance
        return {answer: count / total for answer, count in ordered}

    def majority_answer(self) -> str:
        """The most frequent answer; ties go to the one that appears first."""
        return majority(self.answers)


# ---------------------------------------------------------------------------------------------- reading


def iter_located_records(path: str | os.PathLike[str]) -> Iterator[tuple[str, Record]]:
    """Yield ``(location, record)`` pairs; location is ``"file:LINE"`` or ``"file: item N"``.

    JSONL files hold one object per line (blank lines skipped, lines 1-based); a ``.json`` file
    holds a list of objects (items 0-based). Raises ``RecordsError`` on the first problem.
    """
    source = Path(path)
    raw_items = _json_items(source) if source.suffix.lower() == ".json" else _jsonl_items(source)
    first_seen: dict[str, str] = {}
    for location, label, raw in raw_items:
        record = _validate(raw, location)
        if record.question_id in first_seen:
            raise RecordsError(
                f"{location}: field 'question_id': duplicate {record.question_id!r} "
                f"(first seen on {first_seen[record.question_id]})"
            )
        first_seen[record.question_id] = label
        yield location, record


def iter_records(path: str | os.PathLike[str]) -> Iterator[Record]:
    """Yield validated records from a JSONL (or JSON list) file."""
    for _, record in iter_located_records(path):
        yield record


def read_records(path: str | os.PathLike[str]) -> list[Record]:
    """Read and validate every record of a JSONL (or JSON list) file."""
    return list(iter_records(path))


def _jsonl_items(source: Path) -> Iterator[tuple[str, str, Any]]:
    """Parse a JSONL file line by line, yielding ``("file:N", "line N", value)``."""
    for number, value in iter_jsonl(source, error=RecordsError):
        yield f"{source}:{number}", f"line {number}", value


def _json_items(source: Path) -> Iterator[tuple[str, str, Any]]:
    """Yield ``("file: item N", "item N", value)`` from a JSON file holding a list of records."""
    try:
        data = read_json(source)
    except SeltdaInputError as exc:
        raise RecordsError(str(exc)) from exc
    if not isinstance(data, list):
        raise RecordsError(f"{source}: expected a JSON list of records, got {_json_type(data)}")
    for index, item in enumerate(data):
        yield f"{source}: item {index}", f"item {index}", item


def _validate(raw: Any, location: str) -> Record:
    """Validate one parsed JSON value as a Record, with a located, field-naming error."""
    if not isinstance(raw, dict):
        raise RecordsError(f"{location}: expected a JSON object (one record per line), got {_json_type(raw)}")
    try:
        return Record.model_validate(raw)
    except ValidationError as exc:
        raise RecordsError(f"{location}: {describe_validation(exc, extra_hint=_EXTRA_FIELD)}") from exc


def _json_type(value: Any) -> str:
    """JSON name of a parsed value's type."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


# ---------------------------------------------------------------------------------------------- writing


def record_to_json(record: Record) -> dict[str, Any]:
    """JSON-ready dict of a record without None/default fields (the four core fields always kept)."""
    data = record.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    full = record.model_dump(mode="json", include=set(_ALWAYS_WRITTEN))
    ordered = {name: full[name] for name in _ALWAYS_WRITTEN}
    ordered.update((key, value) for key, value in data.items() if key not in ordered)
    return ordered


def write_records(path: str | os.PathLike[str], records: Iterable[Record]) -> Path:
    """Write records atomically as JSONL, one compact JSON object per line."""
    return write_jsonl(Path(path), (record_to_json(record) for record in records), compact=True)


# ---------------------------------------------------------------------------------------------- paths


@functools.lru_cache(maxsize=1 << 16)  # checked for every record: a pool repeats each image N times
def _lexical_path_problem(relative: str) -> str | None:
    """Why ``relative`` is not a safe relative POSIX path, or None if it is."""
    if not relative:
        return "image path is empty"
    if "\x00" in relative:
        return "image path contains a NUL byte"
    if relative.startswith("/") or PureWindowsPath(relative).drive or PureWindowsPath(relative).root:
        return f"image path {relative!r} is absolute; give it relative to the image root"
    if ".." in PurePosixPath(relative.replace("\\", "/")).parts:
        return f"image path {relative!r} contains '..'; it must stay inside the image root"
    return None


def resolve_image_path(root: str | os.PathLike[str], relative: str) -> Path:
    """Join ``relative`` onto ``root`` and resolve symlinks, refusing anything outside ``root``."""
    problem = _lexical_path_problem(relative)
    if problem:
        raise UnsafePathError(problem)
    root_resolved = Path(root).resolve()
    candidate = (root_resolved / relative.replace("\\", "/")).resolve()
    if not candidate.is_relative_to(root_resolved):
        raise UnsafePathError(
            f"image path {relative!r} resolves to {candidate}, outside the image root {root_resolved} "
            "(a symlink points outside it)"
        )
    return candidate


def read_image_list(path: Path) -> list[str]:
    """Image paths, one per line (blank lines and `#` comments ignored)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
