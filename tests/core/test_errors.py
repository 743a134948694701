"""The one pydantic-error formatter (seltda.core.errors)."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from seltda.core.errors import describe_validation, dotted


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Inner]
    mode: Literal["a", "b"] = "a"
    size: int = 1

    @field_validator("size")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value


def errors_of(**data) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        Outer(**data)
    return caught.value


def test_dotted_paths_and_aliases() -> None:
    assert dotted(("items", 0, "name")) == "items[0].name"
    assert dotted(["answers", "2"]) == "answers[2]"
    assert dotted(("items", 1), aliases={"items": "entries"}) == "entries[1]"


def test_value_errors_show_their_own_message_and_extra_fields_a_hint() -> None:
    error = errors_of(items=[{"name": "x", "nick": "y"}], size=0)
    assert describe_validation(error) == (
        "field 'items[0].nick': Extra inputs are not permitted; field 'size': must be at least 1"
    )
    assert describe_validation(error, extra_hint="unknown field").startswith(
        "field 'items[0].nick': unknown field;"
    )


def test_with_input_names_the_refused_value_but_not_for_missing_fields() -> None:
    error = errors_of(items=[{}], mode="c")
    assert describe_validation(error, with_input=True) == (
        "field 'items[0].name': Field required; field 'mode': Input should be 'a' or 'b' (got 'c')"
    )
