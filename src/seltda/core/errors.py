"""One formatter for pydantic validation errors: ``field 'a.b[0]': message``, as every user error reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

EXTRA_FIELD = "unknown field (check the spelling)"


def dotted(loc: tuple[int | str, ...] | list[int | str], aliases: Mapping[str, str] | None = None) -> str:
    """Join a pydantic location into ``a.b[0].c``; `aliases` renames the first part (a source's name)."""
    text = ""
    for index, part in enumerate(loc):
        if isinstance(part, int) or (isinstance(part, str) and part.isdigit() and index):
            text += f"[{part}]"
        else:
            name = (aliases or {}).get(str(part), str(part)) if index == 0 else str(part)
            text += f".{name}" if text else name
    return text


def describe_error(
    error: Mapping[str, Any],
    aliases: Mapping[str, str] | None = None,
    extra_hint: str | None = None,
    with_input: bool = False,
) -> str:
    """One pydantic error as ``field 'x.y': message`` (value errors show their own message)."""
    field = dotted(tuple(error.get("loc", ())), aliases)
    message = error["msg"]
    if error["type"] == "value_error":
        message = str(error.get("ctx", {}).get("error", message))
    elif error["type"] == "extra_forbidden" and extra_hint is not None:
        message = extra_hint
    if with_input and error["type"] != "missing":
        message += f" (got {error.get('input')!r})"
    return f"field '{field}': {message}" if field else message


def describe_validation(error: ValidationError, **options: Any) -> str:
    """All the errors of one validation, joined by '; '."""
    return "; ".join(describe_error(item, **options) for item in error.errors())
