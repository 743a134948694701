"""What a training run prints: one compact line per logging step instead of the Trainer's progress bar and
raw log dicts, e.g. `  teacher  step 120/600 (20%)  loss 0.532  lr 9.1e-04  2.1 steps/s  eta 3m48s`.

`CompactLog` replaces transformers' `ProgressCallback`/`PrinterCallback` (main process only); the Trainer's
own logs (`trainer_log.json`, `report_to`) are unchanged.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback

console = Console(stderr=True, highlight=False)


def duration(seconds: float) -> str:
    """`3m48s`, `1h02m`, `12s`."""
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class CompactLog(TrainerCallback):
    """One line per logging step: step, share done, loss, learning rate, rate and time left."""

    def __init__(self, name: str = "train") -> None:
        self.name = name
        self.start: float | None = None
        self.first_step = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.start = time.perf_counter()
        self.first_step = state.global_step  # a resumed run counts its rate from where it resumed
        if state.is_world_process_zero and state.global_step:
            console.print(f"  {self.name}  resumed at step {state.global_step}/{state.max_steps}")

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs or "loss" not in logs or self.start is None:
            return
        done = state.global_step - self.first_step
        elapsed = time.perf_counter() - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (state.max_steps - state.global_step) / rate if rate > 0 else 0.0
        share = 100 * state.global_step / max(1, state.max_steps)
        lr = logs.get("learning_rate")
        parts = [
            f"  {self.name}  step {state.global_step}/{state.max_steps} ({share:.0f}%)",
            f"loss {float(logs['loss']):.3f}",
            f"lr {float(lr):.1e}" if lr is not None else "",
            f"{rate:.2f} steps/s",
            f"eta {duration(left)}",
        ]
        console.print("  ".join(p for p in parts if p))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero and self.start is not None:
            elapsed = duration(time.perf_counter() - self.start)
            console.print(f"  {self.name}  done: {state.global_step} steps in {elapsed}")


def use_compact_log(trainer: Any, name: str) -> None:
    """Swap the Trainer's progress bar and log printer for one `CompactLog` line per logging step."""
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(CompactLog(name))
