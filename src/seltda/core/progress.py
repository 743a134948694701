"""Progress bars with rate and ETA (rich), on stderr; quiet when it is not a terminal (one final line)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import track as rich_track

T = TypeVar("T")
console = Console(stderr=True)


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with rich's progress bar (percentage, items per second, ETA) on stderr."""
    return rich_track(items, description=description, total=total, console=console, show_speed=True)
