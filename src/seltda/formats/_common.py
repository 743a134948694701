"""Shared helpers of the converters: located errors, typed field access, record building."""

from __future__ import annotations

import os
import string
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from seltda.core.errors import describe_validation
from seltda.core.fileio import SeltdaInputError, read_json
from seltda.core.records import Record

__all__ = [
    "FormatError",
    "build_record",
    "check_unique_ids",
    "display",
    "expect_list",
    "expect_object",
    "fill_template",
    "get_field",
    "json_type",
    "load_json",
    "string_list",
    "template_fields",
]

_MISSING = object()


class FormatError(SeltdaInputError):
    """A dataset file in a foreign format is malformed; the message names file, item and field."""


def json_type(value: Any) -> str:
    """JSON name of a parsed value's type."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def load_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file, turning every read/parse problem into a ``FormatError``."""
    try:
        return read_json(path)
    except SeltdaInputError as exc:
        raise FormatError(str(exc)) from exc


def expect_list(data: Any, location: str, key: str | None = None) -> list[Any]:
    """``data`` (or ``data[key]``) as a list, else a ``FormatError`` naming what was found."""
    if key is not None:
        if not isinstance(data, dict):
            raise FormatError(
                f"{location}: expected a JSON object with a '{key}' list, got {json_type(data)}"
            )
        if key not in data:
            raise FormatError(f"{location}: missing the '{key}' list (is this the right file?)")
        data = data[key]
        location = f"{location}: field '{key}'"
    if not isinstance(data, list):
        raise FormatError(f"{location}: expected a JSON list, got {json_type(data)}")
    return data


def expect_object(item: Any, location: str) -> dict[str, Any]:
    """``item`` as a dict, else a ``FormatError``."""
    if not isinstance(item, dict):
        raise FormatError(f"{location}: expected a JSON object, got {json_type(item)}")
    return item


def get_field(
    item: Mapping[str, Any],
    name: str,
    location: str,
    kinds: type | tuple[type, ...],
    default: Any = _MISSING,
) -> Any:
    """``item[name]`` checked against ``kinds`` (bools never count as ints); missing -> default or error."""
    if name not in item or (item[name] is None and default is not _MISSING):
        if default is _MISSING:
            raise FormatError(f"{location}: field '{name}': missing")
        return default
    value = item[name]
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        wanted = " or ".join(_KIND_NAMES.get(kind, kind.__name__) for kind in kinds)
        raise FormatError(f"{location}: field '{name}': expected {wanted}, got {json_type(value)}")
    return value


_KIND_NAMES = {str: "a string", int: "an integer", list: "a list", dict: "an object", bool: "true/false"}


def string_list(value: Any, location: str, name: str) -> list[str]:
    """A non-empty list of strings (a single string becomes a one-item list)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise FormatError(f"{location}: field '{name}': expected a non-empty list of strings")
    for index, entry in enumerate(value):
        if not isinstance(entry, str):
            raise FormatError(
                f"{location}: field '{name}[{index}]': expected a string, got {json_type(entry)}"
            )
    return list(value)


def fill_template(template: str, location: str, **values: Any) -> str:
    """``template.format(**values)`` with a clear error for unknown placeholders or bad specs."""
    try:
        return template.format(**values)
    except KeyError as exc:
        known = ", ".join("{" + key + "}" for key in values)
        raise FormatError(
            f"{location}: image template {template!r} uses unknown placeholder {{{exc.args[0]}}} "
            f"(available: {known})"
        ) from exc
    except (ValueError, IndexError, TypeError) as exc:
        raise FormatError(f"{location}: image template {template!r}: {exc}") from exc


def template_fields(template: str) -> set[str]:
    """Names of the placeholders used by a ``str.format`` template."""
    try:
        return {
            name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name
        }
    except ValueError as exc:
        raise FormatError(f"image template {template!r}: {exc}") from exc


def build_record(location: str, aliases: Mapping[str, str] | None = None, **fields: Any) -> Record:
    """Validate ``fields`` as a ``Record``; errors say ``location: field 'name': message``.

    ``aliases`` maps record fields to the source field names shown in error messages.
    """
    try:
        return Record.model_validate({key: value for key, value in fields.items() if value is not None})
    except ValidationError as exc:
        raise FormatError(f"{location}: {describe_validation(exc, aliases=aliases)}") from exc


def check_unique_ids(located: Iterable[tuple[str, Record]]) -> list[Record]:
    """The records in order; a repeated question_id raises naming both places."""
    seen: dict[str, str] = {}
    records = []
    for location, record in located:
        if record.question_id in seen:
            raise FormatError(
                f"{location}: duplicate question_id {record.question_id!r} "
                f"(first at {seen[record.question_id]})"
            )
        seen[record.question_id] = location
        records.append(record)
    return records


def display(path: str | os.PathLike[str]) -> str:
    """How a source file is named in messages (as the user gave it)."""
    return str(Path(path))
