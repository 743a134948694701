"""One JSONL reader and writer: a line per JSON object, written atomically, errors naming file and line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from seltda.core.fileio import SeltdaInputError, atomic_write_text


def dumps_line(row: Any, compact: bool = False) -> str:
    """One JSONL line (UTF-8 kept as is), newline included; `compact` drops the spaces after , and :."""
    separators = (",", ":") if compact else None
    return json.dumps(row, ensure_ascii=False, separators=separators) + "\n"


def write_jsonl(path: Path, rows: Iterable[Any], compact: bool = False) -> Path:
    """Write `rows` as JSONL atomically (the file appears only when complete)."""
    return atomic_write_text(Path(path), "".join(dumps_line(row, compact) for row in rows))


def iter_jsonl(
    path: Path,
    missing_ok: bool = False,
    error: type[SeltdaInputError] = SeltdaInputError,
    skipped: list[int] | None = None,
) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for each non-blank line; a broken line raises `error` naming file, line
    and column (``file:LINE:COLUMN: invalid JSON: ...``, as `read_json`), or the byte that is not UTF-8.

    `missing_ok`: a missing file yields nothing instead of raising. A UTF-8 byte-order mark is skipped.
    `skipped`: a reader that must survive broken lines (the report) gets their numbers here instead.
    """
    path = Path(path)
    if missing_ok and not path.exists():
        return
    try:
        handle = path.open("rb")
    except FileNotFoundError as exc:
        raise error(f"{path}: file not found") from exc
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                if skipped is not None:
                    skipped.append(number)
                    continue
                raise error(f"{path}:{number}: not valid UTF-8 (byte {exc.start + 1})") from exc
            if number == 1:
                line = line.removeprefix("\ufeff")
            if not line.strip():
                continue
            try:
                yield number, json.loads(line.rstrip("\r\n"))  # columns counted on this line
            except json.JSONDecodeError as exc:
                if skipped is not None:
                    skipped.append(number)
                    continue
                raise error(f"{path}:{number}:{exc.colno}: invalid JSON: {exc.msg}") from exc


def read_jsonl(
    path: Path, missing_ok: bool = False, error: type[SeltdaInputError] = SeltdaInputError
) -> list[Any]:
    """Every value of a JSONL file (see `iter_jsonl`)."""
    return [value for _, value in iter_jsonl(path, missing_ok=missing_ok, error=error)]
