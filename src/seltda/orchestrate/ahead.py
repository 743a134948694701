"""Independent training stages in a second process (`workers: 2`), so an idle core trains one while the
run trains another: the teacher beside the baseline, one recipe's student beside another's.

A stage started here is the same call the run would make in place (`train_teacher`, `train_student`); it
writes into its own folder as it always does (atomically, resumable, complete when `seltda_stage.json` is
written), so the run only waits for the folder before it uses the model. A worker that fails or is killed
leaves the stage to the run, which trains it in place and resumes from the worker's checkpoints; nothing
finished is lost. Each worker runs with the run's thread count, so a stage trained beside gives the same
model as one trained in place (the thread count sets the order of float sums). Its output goes to
`logs/<stage>.log` in the run folder.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seltda.orchestrate.stage_clock import StageClock, console
from seltda.run.stage import stage_complete


def _work(fn: Callable[..., Any], args: tuple, kwargs: dict, threads: int | None, log: str) -> None:
    """A worker process: the run's thread count, its output (Python's and the libraries') to `log`."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    handle = open(log, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (open until the process ends:
    os.dup2(handle.fileno(), 1)  # an error's traceback is written to it on the way out)
    os.dup2(handle.fileno(), 2)
    sys.stdout = sys.stderr = handle
    start = time.perf_counter()
    fn(*args, **kwargs)
    Path(log).with_suffix(".seconds").write_text(f"{time.perf_counter() - start:.2f}\n")


@dataclass
class _Started:
    name: str
    process: Any  # multiprocessing.Process
    call: tuple[Callable[..., Any], tuple, dict]
    log: Path
    start: float


class Ahead:
    """Stages run beside the run's own process: at most `workers - 1` at a time (`workers` 1: every stage
    runs in place, in order). Use as a context manager: leaving it stops the workers still running."""

    def __init__(self, workers: int, threads: int | None, logs: Path, clock: StageClock) -> None:
        self.slots = max(0, workers - 1)
        self.threads = threads
        self.logs = logs
        self.clock = clock
        self.started: dict[Path, _Started] = {}
        self.in_place: set[Path] = set()  # stages `run` trained here
        self.warnings: list[str] = []

    def __enter__(self) -> Ahead:
        return self

    def __exit__(self, *exc: object) -> None:
        for started in self.started.values():  # an error or an interrupt in the run: stop the workers
            if started.process.is_alive():
                started.process.terminate()
            started.process.join()
        self.started.clear()

    def _busy(self) -> int:
        return sum(started.process.is_alive() for started in self.started.values())

    def run(self, name: str, folder: Path, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Stage `name` (its model written to `folder`): in a worker when one is free, else here, now.
        The run calls `wait(folder)` before it reads the model."""
        folder = Path(folder)
        if folder in self.started or folder in self.in_place:
            return
        if stage_complete(folder) or self._busy() >= self.slots:
            self.clock.run(name, stage_complete(folder), fn, *args, **kwargs)
            self.in_place.add(folder)
            return
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        context = multiprocessing.get_context("spawn")  # no forked torch state
        process = context.Process(
            target=_work, args=(fn, args, kwargs, self.threads, str(log)), name=f"seltda-{name}"
        )
        process.start()
        self.started[folder] = _Started(name, process, (fn, args, kwargs), log, time.perf_counter())
        self.clock.number += 1
        number = f"[{self.clock.number}/{self.clock.total}]"
        console.print(f"[bold]{number} {name}[/] (in a second process: {log})")

    def wait(self, folder: Path) -> bool:
        """Return once the stage `run` was given for `folder` is complete (False at once when it was given
        none); a worker that failed leaves it to this process, which trains it in place (resuming its
        checkpoints)."""
        started = self.started.pop(Path(folder), None)
        if started is None:
            return Path(folder) in self.in_place
        self.in_place.add(Path(folder))
        started.process.join()
        if started.process.exitcode == 0 and stage_complete(folder):
            seconds = started.log.with_suffix(".seconds")  # the stage's own time in the worker
            self.clock.timings[started.name] = (
                float(seconds.read_text())
                if seconds.is_file()
                else round(time.perf_counter() - started.start, 2)
            )
            return True
        warning = (
            f"{started.name}: its second process failed (exit code {started.process.exitcode}, "
            f"see {started.log}); trained in this one instead"
        )
        self.warnings.append(warning)
        console.print(f"[bold yellow]warning:[/] {warning}")
        fn, args, kwargs = started.call
        start = time.perf_counter()
        fn(*args, **kwargs)
        self.clock.timings[started.name] = round(time.perf_counter() - start, 2)
        return True

    def wait_all(self) -> None:
        for folder in list(self.started):
            self.wait(folder)
