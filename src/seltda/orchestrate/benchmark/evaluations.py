"""One evaluation per (model, replicate, set), written to `evals/<model>/<set>[-r<k>].json` and reused on a
rerun when its inputs are unchanged.

The inputs are recorded in the evaluation file (`benchmark_inputs`): the model folder (its path and a
fingerprint of its files' names, sizes and modification times) or the predictions file (its hash), the
records file (its hash), the image root and the settings that change answers or scores. A changed input
reruns that evaluation and nothing else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seltda.core.fileio import SeltdaInputError, file_sha256
from seltda.orchestrate.benchmark.config import BenchmarkConfig, ModelEntry, SetEntry
from seltda.run.artifacts import Evaluation
from seltda.run.layout import BenchmarkLayout
from seltda.stages import evaluate as evaluate_stage

INPUTS_KEY = "benchmark_inputs"
# settings that cannot change an answer or a score (batched answers equal one-by-one answers)
NEUTRAL_SETTINGS = {"batch_size"}


# files that describe a model and change no answer: the model card, which a verdict rewrites (to say why
# the model shipped) on every rerun of its run
DESCRIPTIVE_FILES = {"README.md"}


def folder_fingerprint(folder: Path) -> str:
    """A hash of the names, sizes and modification times of a model folder's top-level files (a retrained
    or replaced model changes it; reading the weights is not needed), its model card aside."""
    digest = hashlib.sha256()
    files = (p for p in Path(folder).iterdir() if p.is_file() and p.name not in DESCRIPTIVE_FILES)
    for item in sorted(files):
        info = item.stat()
        digest.update(f"{item.name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def model_inputs(location: str) -> dict[str, str]:
    path = Path(location)
    if path.is_dir():
        return {"model": str(path), "fingerprint": folder_fingerprint(path)}
    return {"model": location}  # a hub id or a named model: its name is all there is


@dataclass(frozen=True)
class Task:
    """One evaluation: a model's replicate on a set, from its folder or from its predictions file."""

    model: ModelEntry
    replicate: int  # 1-based
    set: SetEntry
    source: str  # the model folder (or hub id) or the predictions file
    from_predictions: bool

    def inputs(self, cfg: BenchmarkConfig) -> dict[str, Any]:
        settings = self.set.settings(cfg.evaluate).model_dump(mode="json", exclude=NEUTRAL_SETTINGS)
        source = (
            {"predictions": self.source, "sha256": file_sha256(Path(self.source))}
            if self.from_predictions
            else model_inputs(self.source)
        )
        return {
            **source,
            "data": str(self.set.data),
            "data_sha256": file_sha256(self.set.data),
            "images": None if self.from_predictions else str(self.set.images),
            "settings": settings,
        }


def tasks(cfg: BenchmarkConfig) -> list[Task]:
    """Every evaluation the table needs, set by set (a model without predictions for a set has none)."""
    result = []
    for entry in cfg.sets:
        for model in cfg.models:
            files = model.prediction_files(entry.name)
            sources = files if files is not None else model.folders()
            for replicate, source in enumerate(sources, start=1):
                result.append(Task(model, replicate, entry, source, files is not None))
    return result


def run_task(task: Task, cfg: BenchmarkConfig, out_file: Path) -> tuple[Evaluation, str]:
    """The task's evaluation and what happened: `reused`, `evaluated` or `re-evaluated (changed: ...)`."""
    inputs = task.inputs(cfg)
    status = "evaluated"
    if out_file.is_file():
        try:
            previous = Evaluation.read(out_file)
        except (SeltdaInputError, ValueError):  # unreadable or another shape: evaluate again
            previous = None
        recorded = (previous.model_extra or {}).get(INPUTS_KEY) if previous is not None else None
        if recorded == inputs:
            return previous, "reused"
        if isinstance(recorded, dict):
            changed = sorted(k for k in set(inputs) | set(recorded) if inputs.get(k) != recorded.get(k))
            status = f"re-evaluated (changed: {', '.join(changed)})"
    settings = task.set.settings(cfg.evaluate)
    if task.from_predictions:
        result = evaluate_stage.score(
            Path(task.source), task.set.data, None, settings.suites, settings.metric, settings.limit
        )
    else:
        result = evaluate_stage.evaluate(task.source, task.set.data, task.set.images, None, settings)
    evaluation = Evaluation.model_validate({**result, INPUTS_KEY: inputs})
    evaluation.write(out_file)
    return evaluation, status


def run_evaluations(cfg: BenchmarkConfig, on_done=None) -> dict[tuple[str, str], list[Evaluation]]:
    """Every task's evaluation, {(model, set): [replicate 1, replicate 2, ...]}; `on_done(task, status)`
    hears of each as it finishes."""
    layout = BenchmarkLayout(cfg.out)
    evaluations: dict[tuple[str, str], list[Evaluation]] = {}
    for task in tasks(cfg):
        out_file = layout.evaluation(task.model.name, task.set.name, task.replicate)
        evaluation, status = run_task(task, cfg, out_file)
        evaluations.setdefault((task.model.name, task.set.name), []).append(evaluation)
        if on_done is not None:
            on_done(task, status)
    return evaluations
