"""How every `seltda` command reports a user's mistake: one red line, exit code 2, no traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from seltda.fileio import SeltdaInputError

F = TypeVar("F", bound=Callable[..., Any])
err = Console(stderr=True, highlight=False, soft_wrap=True)


def user_errors(fn: F) -> F:
    """Show an input mistake (`SeltdaInputError`, a missing file) as one line and exit with code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (SeltdaInputError, FileNotFoundError) as error:
            err.print(f"[bold red]error:[/] {escape(str(error))}")
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]
