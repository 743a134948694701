"""How every `seltda` command reports a user's mistake: one red line, exit code 2, no traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from seltda.core.errors import describe_validation
from seltda.core.fileio import SeltdaInputError

F = TypeVar("F", bound=Callable[..., Any])
err = Console(stderr=True, highlight=False, soft_wrap=True)


def invalid_settings(error: ValidationError) -> str:
    """Every refused setting: `field 'name': what is wrong (got value)`."""
    return f"invalid {error.title} setting: " + describe_validation(error, with_input=True)


def user_errors(fn: F) -> F:
    """Show an input mistake (`SeltdaInputError`, a missing file) as one line and exit with code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (SeltdaInputError, FileNotFoundError) as error:
            err.print(f"[bold red]error:[/] {escape(str(error))}")
            raise typer.Exit(2) from None
        except ValidationError as error:  # a setting given on the command line that its config refuses
            err.print(f"[bold red]error:[/] {escape(invalid_settings(error))}")
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]
