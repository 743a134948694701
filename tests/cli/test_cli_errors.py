"""How commands report a user's mistake (seltda.cli.errors)."""

from __future__ import annotations

import pytest
import typer
from pydantic import BaseModel, Field, ValidationError

from seltda.cli.errors import invalid_settings, user_errors


class Settings(BaseModel):
    steps: int = Field(gt=0)


def test_invalid_settings_names_each_field_and_value():
    with pytest.raises(ValidationError) as caught:
        Settings(steps=0)
    assert invalid_settings(caught.value) == (
        "invalid Settings setting: field 'steps': Input should be greater than 0 (got 0)"
    )


def test_refused_setting_exits_with_code_2_and_one_line(capsys):
    with pytest.raises(typer.Exit) as stopped:
        user_errors(lambda: Settings(steps=-1))()
    assert stopped.value.exit_code == 2
    assert capsys.readouterr().err.strip().startswith("error: invalid Settings setting: field 'steps'")
