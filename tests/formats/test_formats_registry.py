"""The format registry and `convert`."""

from __future__ import annotations

from pathlib import Path

import pytest

from seltda.core.fileio import SeltdaInputError
from seltda.formats import (
    FormatError,
    convert,
)


def test_convert_rejects_unknown_formats_and_options(tmp_path: Path) -> None:
    with pytest.raises(SeltdaInputError, match="unknown format 'gqa'"):
        convert("gqa", tmp_path / "out.jsonl")
    with pytest.raises(FormatError, match="unknown option.*annotation_file"):
        convert("vqa_v2", tmp_path / "out.jsonl", questions="q.json", annotation_file="a.json")
