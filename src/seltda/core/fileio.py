"""Atomic file writing, friendly JSON reading and environment capture."""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib.metadata
import json
import os
import platform
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "SeltdaInputError",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "environment_info",
    "read_json",
]

_TRACKED_PACKAGES = ("torch", "transformers", "accelerate", "peft", "datasets", "pydantic", "seltda")


class SeltdaInputError(ValueError):
    """Base class for every error the user can fix by correcting their input."""


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same dir, fsync, replace)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            _set_mode(handle.fileno(), target)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        _remove_quietly(tmp_name)
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> Path:
    """Serialise ``obj`` as JSON (UTF-8, key order kept, Paths as strings) and write it atomically."""
    text = json.dumps(obj, indent=indent, sort_keys=False, ensure_ascii=False, default=str)
    return atomic_write_text(path, text + "\n")


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks: what tells an input edited in place from an
    unchanged one, whatever its path."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: str | os.PathLike[str]) -> Any:
    """Load a JSON file; raise ``SeltdaInputError`` naming file, line and column on bad input."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SeltdaInputError(f"{source}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise SeltdaInputError(f"{source}: not valid UTF-8 text: {exc.reason}") from exc
    except OSError as exc:
        raise SeltdaInputError(f"{source}: cannot read: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SeltdaInputError(f"{source}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc


def cached_json(
    path: str | os.PathLike[str], key: dict[str, Any], compute: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """A computation kept on file: `path`'s object when it was written for `key` (each of its items equal),
    else `compute()`'s object, written with `key`'s items first (atomically: a crash keeps the old file)."""
    if Path(path).is_file():
        with contextlib.suppress(SeltdaInputError):
            saved = read_json(path)
            if isinstance(saved, dict) and all(saved.get(name) == value for name, value in key.items()):
                return saved
    result = key | compute()
    atomic_write_json(path, result)
    return result


def environment_info() -> dict[str, Any]:
    """Describe the running environment for reproducibility records (with torch's thread count once torch
    is loaded: the count changes what training computes)."""
    info = {
        "python": sys.version.split()[0],
        "python_full": sys.version,
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "packages": {name: _package_version(name) for name in _TRACKED_PACKAGES},
        "git_sha": _git_sha(Path.cwd()),
        "time_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    torch = sys.modules.get("torch")  # not imported here: a record need not load torch
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
    return info


def _package_version(name: str) -> str:
    """Installed version of ``name`` from package metadata, or ``"not installed"``."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
    except Exception:  # broken metadata must never break a run
        return "unknown"


def _git_sha(cwd: Path) -> str | None:
    """HEAD commit of the git repository containing ``cwd``, or None."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = result.stdout.strip()
    return sha if result.returncode == 0 and sha else None


def _current_umask() -> int:
    """The process umask (read once at import; os.umask can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_NEW_FILE_MODE = 0o666 & ~_current_umask()


def _set_mode(fd: int, target: Path) -> None:
    """Give the temp file the target's current permissions, or the usual ones for a new file."""
    if not hasattr(os, "fchmod"):
        return
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except OSError:
        mode = _NEW_FILE_MODE
    os.fchmod(fd, mode)


def _remove_quietly(path: str) -> None:
    """Delete ``path`` if it exists, ignoring errors."""
    with contextlib.suppress(OSError):
        os.unlink(path)
