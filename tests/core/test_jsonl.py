"""The one JSONL reader and writer (seltda.core.jsonl)."""

from __future__ import annotations

from pathlib import Path

import pytest

from seltda.core.fileio import SeltdaInputError
from seltda.core.jsonl import dumps_line, iter_jsonl, read_jsonl, write_jsonl
from seltda.core.records import RecordsError


def test_round_trip_keeps_utf8_and_skips_blank_lines(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "rows.jsonl", [{"a": "é"}, [1, 2]])
    assert path.read_text(encoding="utf-8") == '{"a": "é"}\n[1, 2]\n'
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\r\n\r\n  \n{"b": 2}\n')
    assert list(iter_jsonl(path)) == [(1, {"a": 1}), (4, {"b": 2})]


def test_compact_lines() -> None:
    assert dumps_line({"a": [1, 2]}, compact=True) == '{"a":[1,2]}\n'


def test_errors_name_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n{"a": }\n', encoding="utf-8")
    with pytest.raises(SeltdaInputError, match=r"rows\.jsonl:2:7: invalid JSON: Expecting value"):
        read_jsonl(path)
    path.write_bytes(b'{"a": 1}\n"\xff"\n')
    with pytest.raises(RecordsError, match=r"rows\.jsonl:2: not valid UTF-8 \(byte 2\)"):
        read_jsonl(path, error=RecordsError)


def test_missing_file(tmp_path: Path) -> None:
    assert read_jsonl(tmp_path / "none.jsonl", missing_ok=True) == []
    with pytest.raises(SeltdaInputError, match=r"none\.jsonl: file not found"):
        read_jsonl(tmp_path / "none.jsonl")
