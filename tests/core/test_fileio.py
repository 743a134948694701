"""Tests for seltda.core.fileio."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from seltda.core import fileio
from seltda.core.fileio import (
    SeltdaInputError,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    environment_info,
    read_json,
)


def test_atomic_write_text_creates_parents_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.txt"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second ✓")
    assert target.read_text(encoding="utf-8") == "second ✓"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_atomic_write_keeps_existing_permissions(tmp_path: Path) -> None:
    target = tmp_path / "script.sh"
    target.write_text("old")
    target.chmod(0o750)
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o750


def test_new_file_is_not_private_only(tmp_path: Path) -> None:
    target = tmp_path / "new.txt"
    atomic_write_text(target, "x")
    assert stat.S_IMODE(target.stat().st_mode) == fileio._NEW_FILE_MODE


def test_atomic_write_cleans_up_on_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"original")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"original"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_atomic_write_json_round_trip(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    obj = {"z": 1, "a": "é", "path": tmp_path / "x"}
    atomic_write_json(target, obj)
    text = target.read_text(encoding="utf-8")
    assert "é" in text
    assert list(json.loads(text)) == ["z", "a", "path"]
    assert read_json(target) == {"z": 1, "a": "é", "path": str(tmp_path / "x")}


def test_read_json_reports_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "a": 1,\n  "b": \n}\n')
    with pytest.raises(SeltdaInputError, match=r"bad\.json:4:1: invalid JSON: Expecting value"):
        read_json(bad)


def test_read_json_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SeltdaInputError, match="file not found"):
        read_json(tmp_path / "nope.json")


def test_seltda_input_error_in_a_validator_is_a_validation_error() -> None:
    """Being a ValueError, an input error raised inside a pydantic validator reads as that field's error."""
    from pydantic import BaseModel, ValidationError, field_validator

    class Settings(BaseModel):
        path: str

        @field_validator("path")
        @classmethod
        def _check(cls, value: str) -> str:
            raise SeltdaInputError(f"{value}: file not found")

    with pytest.raises(ValidationError, match="x.json: file not found"):
        Settings(path="x.json")


def test_environment_info(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fileio, "_git_sha", lambda cwd: None)
    info = environment_info()
    assert info["python"].count(".") == 2
    assert set(info["packages"]) >= {"torch", "transformers", "accelerate", "peft", "datasets", "pydantic"}
    assert info["packages"]["pydantic"][0].isdigit()
    assert all(isinstance(v, str) for v in info["packages"].values())
    assert info["git_sha"] is None
    assert info["time_utc"].endswith("+00:00")
    json.dumps(info)


def test_git_sha_outside_repo_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_git(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError("git")

    monkeypatch.setattr(fileio.subprocess, "run", no_git)
    assert fileio._git_sha(tmp_path) is None


def test_cached_json_computes_once_per_key_and_again_for_another_key_or_a_broken_file(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    path = tmp_path / "cache.json"
    assert fileio.cached_json(path, {"model": "a"}, compute) == {"model": "a", "value": 1}
    assert fileio.cached_json(path, {"model": "a"}, compute)["value"] == 1  # read back
    assert fileio.cached_json(path, {"model": "b"}, compute)["value"] == 2  # another key
    path.write_text('{"model": "b", "val')  # truncated by hand
    assert fileio.cached_json(path, {"model": "b"}, compute)["value"] == 3
    assert json.loads(path.read_text()) == {"model": "b", "value": 3}
