"""A run's stages as a person follows them: a numbered header per stage (`[3/7] teacher`), its time, and
for a stage a previous invocation finished, its earlier time kept (a rerun never rewrites it as 0 s)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from rich.console import Console

T = TypeVar("T")
console = Console(stderr=True, highlight=False)


class StageClock:
    """Runs the stages in order, numbering them, timing those that run and keeping the times of the
    finished ones from `previous` (the run's earlier `timings_seconds`)."""

    def __init__(self, total: int, previous: dict[str, float] | None = None) -> None:
        self.total = total
        self.previous = dict(previous or {})
        self.number = 0
        self.timings: dict[str, float] = {}

    def run(self, name: str, finished: bool, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one stage (a finished one only reads its result back)."""
        self.number += 1
        state = " (finished earlier: kept)" if finished else ""
        console.print(f"[bold][{self.number}/{self.total}] {name}[/]{state}")
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        if finished:
            if name in self.previous:
                self.timings[name] = self.previous[name]
        else:
            self.timings[name] = round(time.perf_counter() - start, 2)
        return result

    def skip(self, name: str, why: str, count: int = 1) -> None:
        """Stages that will not run (their numbers are passed, so the count stays right)."""
        for _ in range(count):
            self.number += 1
            console.print(f"[bold][{self.number}/{self.total}] {name}[/] (skipped: {why})")
