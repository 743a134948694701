"""The benchmark config: models x evaluation sets, as one YAML file (`seltda benchmark CONFIG.yaml`).

Paths may name environment variables (`${DATA}/test.jsonl`) and `~`; relative paths resolve against the
config file's folder (or a given root, e.g. a run folder). A model is
a folder (or hub id), K replicate folders, or predictions made elsewhere (one file per set and replicate:
VQA results, an evaluation JSON or an id -> answer object), scored here with the set's metric.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from seltda.core.errors import describe_validation
from seltda.core.fileio import SeltdaInputError
from seltda.eval.scorers import METRIC_NAMES
from seltda.eval.suites import SUITES
from seltda.stages.evaluate import EvaluateConfig

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]*$"  # a model's or set's name is a file name in `evals/`
NAME_HELP = "letters, digits and . _ + - (it names files under evals/)"
UNSET_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def expand(value: Any) -> Any:
    """A path's environment variables and `~` expanded (in lists and mappings too); an unset variable is
    an error naming it."""
    if isinstance(value, list):
        return [expand(v) for v in value]
    if isinstance(value, dict):
        return {k: expand(v) for k, v in value.items()}
    if not isinstance(value, str | Path):
        return value
    text = os.path.expanduser(os.path.expandvars(str(value)))
    unset = UNSET_VARIABLE.search(text)
    if unset:
        raise ValueError(f"environment variable {unset.group(1)} is not set (in {value!r})")
    return text


class ModelEntry(BaseModel):
    """One column of the table: a model folder, its replicates, or predictions made elsewhere."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description=f"the column's name: {NAME_HELP}")
    path: str | None = Field(None, description="model folder (or hub id)")
    paths: list[str] | None = Field(
        None, min_length=1, description="one folder per replicate (independently trained seeds)"
    )
    predictions: dict[str, str | list[str]] | None = Field(
        None,
        description="per set name: a predictions file, or one per replicate (VQA results [{question_id, "
        "answer}], an evaluation JSON, or {question_id: answer})",
    )

    _expand = field_validator("path", "paths", "predictions", mode="before")(expand)

    @model_validator(mode="after")
    def _one_source(self) -> ModelEntry:
        given = [key for key in ("path", "paths", "predictions") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of path, paths or predictions (got {given or 'none'})")
        if self.predictions is not None:
            counts = {len(self._listed(files)) for files in self.predictions.values()}
            if len(counts) > 1:
                raise ValueError("every set's predictions need as many files (one per replicate)")
            if not self.predictions or 0 in counts:
                raise ValueError("predictions: name at least one file for a set")
        return self

    @staticmethod
    def _listed(files: str | list[str]) -> list[str]:
        return [files] if isinstance(files, str) else list(files)

    @property
    def replicates(self) -> int:
        if self.predictions is not None:
            return len(self._listed(next(iter(self.predictions.values()))))
        return len(self.paths) if self.paths is not None else 1

    def folders(self) -> list[str]:
        """The model folders, one per replicate ([] for predictions)."""
        return list(self.paths) if self.paths is not None else [self.path] if self.path else []

    def prediction_files(self, set_name: str) -> list[str] | None:
        """The predictions of `set_name`, one per replicate; None when this model has none for it."""
        if self.predictions is None or set_name not in self.predictions:
            return None
        return self._listed(self.predictions[set_name])


class SetEntry(BaseModel):
    """One evaluation set: records, their images, and how to score them (the rows of the table)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description=f"the set's name: {NAME_HELP}")
    data: Path = Field(description="records (JSONL)")
    images: Path | None = Field(None, description="image root of the records (needed to run a model folder)")
    metric: Literal[METRIC_NAMES] | None = Field(  # type: ignore[valid-type]
        None, description="the metric under `accuracy` (default: `evaluate.metric`)"
    )
    suites: tuple[str, ...] | None = Field(
        None, description="robustness suites shown as rows (default: `evaluate.suites`)"
    )
    limit: int | None = Field(None, ge=1, description="the first N records only (default: `evaluate.limit`)")

    _expand = field_validator("data", "images", mode="before")(expand)

    @field_validator("suites")
    @classmethod
    def _known_suites(cls, suites: tuple[str, ...] | None) -> tuple[str, ...] | None:
        unknown = sorted(set(suites or ()) - set(SUITES))
        if unknown:
            raise ValueError(f"unknown suite(s) {unknown}: choose among {list(SUITES)}")
        return suites

    def settings(self, base: EvaluateConfig) -> EvaluateConfig:
        """The evaluation settings of this set: `base` with the set's metric, suites and limit."""
        given = {k: getattr(self, k) for k in ("metric", "suites", "limit") if getattr(self, k) is not None}
        return base.model_copy(update=given)


class BenchmarkConfig(BaseModel):
    """Models x evaluation sets; every gain is over the first model."""

    model_config = ConfigDict(extra="forbid")

    models: list[ModelEntry] = Field(min_length=1, description="the columns; the first is the reference")
    sets: list[SetEntry] = Field(min_length=1, description="the evaluation sets")
    out: Path = Field(Path("benchmark"), description="folder for evals/, benchmark.json/.md, report.html")
    evaluate: EvaluateConfig = Field(
        EvaluateConfig(), description="evaluation settings (batch_size, max_pixels, ...)"
    )
    confidence: float = Field(0.95, gt=0, lt=1, description="confidence of the gains' intervals")
    resamples: int = Field(10000, ge=100, description="bootstrap resamples (one replicate per model)")
    seed: int = Field(0, description="the bootstrap's random seed")

    _expand = field_validator("out", mode="before")(expand)

    @model_validator(mode="after")
    def _consistent(self) -> BenchmarkConfig:
        for key, entries in (("models", self.models), ("sets", self.sets)):
            names = [entry.name for entry in entries]
            twice = sorted({name for name in names if names.count(name) > 1})
            if twice:
                raise ValueError(f"{key}: each name once, got {twice} more than once")
        sets = {entry.name for entry in self.sets}
        reference = self.models[0]
        for index, model in enumerate(self.models):
            unknown = sorted(set(model.predictions or {}) - sets)
            if unknown:
                raise ValueError(f"models[{index}].predictions: no set named {unknown}; sets: {sorted(sets)}")
            if model.replicates != reference.replicates:
                raise ValueError(
                    f"models[{index}] ({model.name}) has {model.replicates} replicate(s) and the first model "
                    f"({reference.name}) {reference.replicates}: a gain pairs replicate k of each with "
                    "replicate k of the first, so give them as many"
                )
        return self

    def resolved(self, root: Path) -> BenchmarkConfig:
        """Relative paths made absolute against `root`; a model path that is not a folder there is kept as
        given (a hub id or a named model)."""

        def path(value: Path | None) -> Path | None:
            return None if value is None else value if value.is_absolute() else root / value

        def model(value: str) -> str:
            return str(root / value) if (root / value).exists() else value

        def files(value: str | list[str]) -> str | list[str]:
            listed = [str(path(Path(v))) for v in ModelEntry._listed(value)]
            return listed[0] if isinstance(value, str) else listed

        models = [
            m.model_copy(
                update={
                    "path": model(m.path) if m.path else None,
                    "paths": [model(p) for p in m.paths] if m.paths else None,
                    "predictions": {k: files(v) for k, v in m.predictions.items()} if m.predictions else None,
                }
            )
            for m in self.models
        ]
        sets = [s.model_copy(update={"data": path(s.data), "images": path(s.images)}) for s in self.sets]
        return self.model_copy(update={"models": models, "sets": sets, "out": path(self.out)})


def load_benchmark_config(path: Path, root: Path | None = None) -> BenchmarkConfig:
    """Read a YAML benchmark config; errors name the file and the field. Relative paths resolve against
    `root` (default: the config file's folder)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise SeltdaInputError(f"{path}: cannot read YAML: {error}") from error
    try:
        cfg = BenchmarkConfig.model_validate(raw)
    except ValidationError as error:
        raise SeltdaInputError(f"{path}: {describe_validation(error)}") from error
    cfg = cfg.resolved((root or path.parent).absolute())
    for index, entry in enumerate(cfg.sets):
        if not entry.data.is_file():
            raise SeltdaInputError(f"{path}: field 'sets[{index}].data': no records file {entry.data}")
        needs_images = any(m.predictions is None for m in cfg.models)
        if needs_images and entry.images is None:
            raise SeltdaInputError(
                f"{path}: field 'sets[{index}].images': the image root is needed to run the model folders"
            )
        if needs_images and not entry.images.is_dir():
            raise SeltdaInputError(f"{path}: field 'sets[{index}].images': no folder {entry.images}")
    for index, model in enumerate(cfg.models):
        for name, files in (model.predictions or {}).items():
            for file in ModelEntry._listed(files):
                if not Path(file).is_file():
                    raise SeltdaInputError(
                        f"{path}: field 'models[{index}].predictions.{name}': no predictions file {file}"
                    )
    return cfg
