"""CSV/TSV question tables (PathVQA, VQA-RAD style exports) -> records."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from seltda.core.images import is_image_name
from seltda.core.records import Record
from seltda.formats._common import FormatError, build_record, check_unique_ids, display

__all__ = ["COLUMN_ALIASES", "AliasNotice", "read_table"]

# Names practitioners' exports use for the default columns, tried in this order when the default is absent.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "image": ("image_path", "image_file", "image_name", "img", "img_id", "img_path", "filename", "file_name"),
    "question": ("question_text",),
    "answer": ("answers", "answer_text"),
    "question_id": ("qid",),
}

AliasNotice = Callable[[str, str, str], None]
"""Called as ``(role, asked column, header column used)`` when a default column is found under an alias."""


def read_table(
    path: str | os.PathLike[str],
    *,
    delimiter: str | None = None,
    image_column: str = "image",
    question_column: str = "question",
    answer_column: str = "answer",
    id_column: str = "question_id",
    answer_separator: str | None = "|",
    image_ext: str = ".jpg",
    encoding: str = "utf-8-sig",
    on_alias: AliasNotice | None = None,
) -> list[Record]:
    """Convert a table with a header row; one question per row.

    The delimiter is a tab for ``.tsv``/``.tab`` files and a comma otherwise unless given. Column
    names match case-insensitively (with ``COLUMN_ALIASES`` for the defaults). An answer cell may
    hold several answers separated by ``answer_separator`` (None: never split). Without an id column,
    ids are ``row-<line>``. Optional ``question_type``/``answer_type`` columns are kept; other
    non-empty cells go to ``meta``. An image cell without an extension gets ``image_ext``.
    Errors name the file, the 1-based line and the column; ``on_alias`` hears which column stood in for
    an absent default one.
    """
    name = display(path)
    delimiter = delimiter or ("\t" if Path(path).suffix.lower() in (".tsv", ".tab") else ",")
    ext = image_ext if not image_ext or image_ext.startswith(".") else f".{image_ext}"
    rows = _rows(path, name, delimiter, encoding)
    try:
        header_line, header = next(rows)
    except StopIteration:
        raise FormatError(f"{name}: empty file (expected a header row)") from None
    columns = _Columns(
        header, f"{name}:{header_line}", image_column, question_column, answer_column, id_column, on_alias
    )
    located = []
    for line, cells in rows:
        location = f"{name}:{line}"
        if len(cells) != len(header):
            raise FormatError(
                f"{location}: expected {len(header)} cells (as in the header), got {len(cells)}"
            )
        located.append((location, _record(cells, location, line, columns, answer_separator, ext)))
    if not located:
        raise FormatError(f"{name}: no data rows after the header on line {header_line}")
    return check_unique_ids(located)


def _rows(
    path: str | os.PathLike[str], name: str, delimiter: str, encoding: str
) -> Iterator[tuple[int, list[str]]]:
    """Non-blank rows with the 1-based line on which each starts."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise FormatError(f"{name}: file not found") from exc
    except OSError as exc:
        raise FormatError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FormatError(f"{name}:{line}: not valid {encoding} text ({exc.reason})") from exc
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield start, cells
            start = reader.line_num + 1
    except csv.Error as exc:
        raise FormatError(f"{name}:{start}: malformed row: {exc}") from exc


class _Columns:
    """Positions of the known columns in the header."""

    def __init__(
        self,
        header: Sequence[str],
        where: str,
        image: str,
        question: str,
        answer: str,
        qid: str,
        on_alias: AliasNotice | None = None,
    ):
        self.header = [cell.strip() for cell in header]
        self.where = where
        self.on_alias = on_alias
        self.image = self._find(image, "image", required=True)
        self.question = self._find(question, "question", required=True)
        self.answer = self._find(answer, "answer", required=True)
        self.question_id = self._find(qid, "question_id", required=False)
        self.question_type = self._find("question_type", "question_type", required=False)
        self.answer_type = self._find("answer_type", "answer_type", required=False)
        used = {
            self.image,
            self.question,
            self.answer,
            self.question_id,
            self.question_type,
            self.answer_type,
        }
        self.extra = [index for index in range(len(self.header)) if index not in used]

    def _find(self, wanted: str, role: str, required: bool) -> int | None:
        """Index of ``wanted`` (or one of the role's aliases if ``wanted`` is the default)."""
        lowered = [cell.lower() for cell in self.header]
        candidates = [wanted, *COLUMN_ALIASES.get(role, ())] if wanted == role else [wanted]
        for candidate in candidates:
            if candidate.lower() in lowered:
                index = lowered.index(candidate.lower())
                if candidate is not wanted and self.on_alias is not None:
                    self.on_alias(role, wanted, self.header[index])
                return index
        if required:
            tried = f"; also looked for {', '.join(candidates[1:])}" if len(candidates) > 1 else ""
            raise FormatError(
                f"{self.where}: column '{wanted}' not found (columns: {', '.join(self.header)}{tried}); "
                f"name the {role} column with the matching option"
            )
        return None


def _record(
    cells: list[str], location: str, line: int, columns: _Columns, separator: str | None, ext: str
) -> Record:
    """One table row."""
    header = columns.header

    def cell(index: int | None) -> str | None:
        return cells[index].strip() if index is not None else None

    for index in (columns.image, columns.question, columns.answer, columns.question_id):
        if index is not None and not cell(index):
            raise FormatError(f"{location}: column '{header[index]}': empty")
    answers = _split_answers(cell(columns.answer) or "", separator)
    if not answers:
        raise FormatError(f"{location}: column '{header[columns.answer]}': no answer between {separator!r}")
    meta = {header[index]: cells[index].strip() for index in columns.extra if cells[index].strip()}
    return build_record(
        location,
        aliases={
            "image": header[columns.image],
            "question": header[columns.question],
            "answers": header[columns.answer],
        },
        question_id=cell(columns.question_id) or f"row-{line}",
        image=_image_path(cell(columns.image) or "", ext),
        question=cell(columns.question),
        answers=answers,
        question_type=cell(columns.question_type) or None,
        answer_type=cell(columns.answer_type) or None,
        meta=meta,
    )


def _split_answers(text: str, separator: str | None) -> list[str]:
    """The answers of one cell (blank parts dropped)."""
    parts = text.split(separator) if separator else [text]
    return [part.strip() for part in parts if part.strip()]


def _image_path(value: str, ext: str) -> str:
    """The image cell with ``ext`` appended when it has no image extension."""
    value = value.replace("\\", "/")
    return value if is_image_name(value) or not ext else value + ext
