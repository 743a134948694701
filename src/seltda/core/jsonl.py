"""One JSONL reader and writer: a line per JSON object, written atomically, errors naming file and line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from seltda.core.fileio import SeltdaInputError, atomic_write_text


def dumps_line(row: Any) -> str:
    """One JSONL line (UTF-8 kept as is), newline included."""
    return json.dumps(row, ensure_ascii=False) + "\n"


def write_jsonl(path: Path, rows: Iterable[Any]) -> Path:
    """Write `rows` as JSONL atomically (the file appears only when complete)."""
    return atomic_write_text(Path(path), "".join(dumps_line(row) for row in rows))


def iter_jsonl(path: Path, missing_ok: bool = False) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for each non-blank line; a broken line raises naming file, line and column.

    `missing_ok`: a missing file yields nothing instead of raising.
    """
    path = Path(path)
    if missing_ok and not path.exists():
        return
    try:
        handle = path.open(encoding="utf-8-sig")
    except FileNotFoundError as error:
        raise SeltdaInputError(f"{path}: file not found") from error
    except OSError as error:
        raise SeltdaInputError(f"{path}: cannot read: {error}") from error
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as error:
                raise SeltdaInputError(
                    f"{path}:{number}: invalid JSON at column {error.colno}: {error.msg}"
                ) from error


def read_jsonl(path: Path, missing_ok: bool = False) -> list[Any]:
    """Every value of a JSONL file (see `iter_jsonl`)."""
    return [value for _, value in iter_jsonl(path, missing_ok=missing_ok)]
