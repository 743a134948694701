"""The run's artifacts, read once through the run layout and their models, forgivingly.

A missing piece is `None`; an unreadable one is `None` plus a line in `problems` (shown at the end of the
report). The image roots are the ones the run recorded: the pool's in the pseudo-label manifest, the test
images' in the run's config.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from seltda.core.fileio import SeltdaInputError, read_json
from seltda.core.jsonl import iter_jsonl
from seltda.core.records import Record, read_records
from seltda.run.artifacts import Comparison, Evaluation, RunMetrics
from seltda.run.layout import TRAINER_LOG, CurveLayout, RunLayout
from seltda.run.pseudolabels import PseudoLabelFolder

M = TypeVar("M", bound=BaseModel)

# the pseudo-label stage's files inside `pseudolabels/`


@dataclass
class RunInputs:
    """Everything the report shows, read from one run folder."""

    layout: RunLayout
    problems: list[str] = field(default_factory=list)
    metrics: RunMetrics | None = None
    config: dict[str, Any] = field(default_factory=dict)
    baseline_eval: Evaluation | None = None
    student_eval: Evaluation | None = None
    compare: Comparison | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    trainer_logs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    curve: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.layout.root

    @property
    def kept_file(self) -> Path:
        return PseudoLabelFolder(self.layout.pseudolabels).records

    @property
    def rejected_file(self) -> Path:
        return PseudoLabelFolder(self.layout.pseudolabels).rejected

    @property
    def pool_root(self) -> Path | None:
        """Where the pseudo-labeled images are: the root the pseudo-label stage recorded."""
        return _path(self.manifest.get("image_root"))

    @property
    def test_root(self) -> Path | None:
        """The test images' root, as the run resolved it (`test_images`, default `images`)."""
        return _path(self.config.get("test_images") or self.config.get("images"))

    @property
    def test_file(self) -> Path | None:
        return _path(self.config.get("test"))

    def objects(self, path: Path) -> Iterator[dict[str, Any]]:
        """The JSON objects of a JSONL file, skipping (and counting) lines that are not objects.

        The report reads model output it must survive: a broken line is noted, never fatal.
        """
        skipped: list[int] = []
        try:
            for _, item in iter_jsonl(path, skipped=skipped):
                if isinstance(item, dict):
                    yield item
                else:
                    skipped.append(0)
        except SeltdaInputError as exc:
            self.problems.append(f"{path}: unreadable ({exc})")
        if skipped:
            self.problems.append(f"{path}: {len(skipped)} line(s) skipped (not JSON objects)")

    def test_records(self, wanted: set[str]) -> dict[str, Record]:
        """The test records with these question ids (none when the test file is gone)."""
        path = self.test_file
        if not wanted or path is None or not path.is_file():
            return {}
        try:
            return {r.question_id: r for r in read_records(path) if r.question_id in wanted}
        except SeltdaInputError as exc:
            self.problems.append(f"{path}: unreadable ({exc})")
            return {}


def read_inputs(run_dir: Path) -> RunInputs:
    """Read every artifact of `run_dir` once."""
    layout = RunLayout(run_dir)
    inputs = RunInputs(layout)
    root = layout.root

    def load(model: type[M], path: Path) -> M | None:
        data = _json(inputs, root, path)
        if data is None:
            return None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            inputs.problems.append(f"{path.relative_to(root)}: unreadable ({exc})")
            return None

    inputs.metrics = load(RunMetrics, layout.metrics)
    inputs.baseline_eval = load(Evaluation, layout.baseline_eval)
    inputs.student_eval = load(Evaluation, layout.student_eval)
    inputs.compare = load(Comparison, layout.compare)
    inputs.config = _mapping(inputs, root, layout.config, _yaml)
    inputs.manifest = _mapping(inputs, root, PseudoLabelFolder(layout.pseudolabels).manifest, read_json)
    inputs.curve = _mapping(inputs, root, CurveLayout(root).json, read_json)
    for stage, folder in layout.trained().items():
        log = _json(inputs, root, folder / TRAINER_LOG)
        if isinstance(log, list):
            inputs.trainer_logs[stage] = [e for e in log if isinstance(e, dict)]
        elif log is not None:
            inputs.problems.append(f"{(folder / TRAINER_LOG).relative_to(root)}: not a list of log entries")
    return inputs


def _json(inputs: RunInputs, root: Path, path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return read_json(path)
    except SeltdaInputError as exc:
        inputs.problems.append(f"{path.relative_to(root)}: unreadable ({exc})")
        return None


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise SeltdaInputError(str(exc)) from exc


def _mapping(inputs: RunInputs, root: Path, path: Path, reader) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        value = reader(path)
    except SeltdaInputError as exc:
        inputs.problems.append(f"{path.relative_to(root)}: unreadable ({exc})")
        return {}
    return value if isinstance(value, dict) else {}


def _path(value: Any) -> Path | None:
    return Path(value).expanduser() if isinstance(value, str) and value else None


METRIC_LABELS = {
    "vqa": "VQA accuracy",
    "exact": "exact-match accuracy",
    "aokvqa": "A-OKVQA direct-answer accuracy",
    "aokvqa-mc": "A-OKVQA multiple-choice accuracy",
}


def metric_name(metric: str | None) -> str:
    """An evaluation's metric (summaries written before it was recorded: `Evaluation`'s default)."""
    return metric or Evaluation.model_fields["metric"].default


def metric_label(metric: str | None) -> str:
    """How the report and the model cards name an evaluation's metric (`Evaluation.metric`)."""
    name = metric_name(metric)
    return METRIC_LABELS.get(name, f"{name} accuracy")


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def num(value: Any) -> float | None:
    """A finite number from untrusted JSON, else None (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
