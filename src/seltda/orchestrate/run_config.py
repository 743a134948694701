"""The run config: a whole SelTDA run on a user's data, as one YAML file (`seltda run CONFIG.yaml`)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from seltda.core.errors import describe_validation
from seltda.core.fileio import SeltdaInputError
from seltda.models.tiny_blip import TinyBlipConfig
from seltda.stages.evaluate import EvaluateConfig
from seltda.stages.pseudolabel.config import PseudoLabelConfig
from seltda.stages.student_config import StudentConfig
from seltda.stages.teacher_config import TeacherConfig


class RunConfig(BaseModel):
    """A whole SelTDA run on a user's data."""

    model_config = ConfigDict(extra="forbid")

    out: Path
    train: Path  # labeled records (JSONL)
    images: Path  # image root of the records
    unlabeled_images: Path | None = None  # root of the unlabeled pool (default: `images`)
    unlabeled_list: Path | None = None  # image paths (relative to the pool root), default: scan the root
    test: Path | None = None  # test records
    test_images: Path | None = None  # default: `images`
    model: str | None = None  # VLM folder or hub id; None: tiny-blip-pretrained, fitted to the labeled texts
    # (its vocabulary extended to them); tiny-blip-scratch: random weights of shape `tiny`
    tiny: TinyBlipConfig = TinyBlipConfig()
    seed: int = 0
    teacher: TeacherConfig = TeacherConfig()
    pseudolabel: PseudoLabelConfig = PseudoLabelConfig()
    student: StudentConfig = StudentConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    rounds: int = Field(
        1, ge=1
    )  # rounds >= 2: the last student starts a new teacher, which relabels the pool
    teacher_on_pseudolabels: bool = False  # later rounds' teachers also learn from the previous pseudo-labels


def load_run_config(path: Path) -> RunConfig:
    """Read a YAML run config; errors name the file and the field."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise SeltdaInputError(f"{path}: cannot read YAML: {error}") from error
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as error:
        raise SeltdaInputError(f"{path}: {describe_validation(error)}") from error
    if isinstance(raw, dict) and "test" not in raw:  # an explicit `test: null` is a choice; silence is not
        raise SeltdaInputError(
            f"{path}: no 'test:' records: name them (test: data/test.jsonl) so both models are scored, "
            "or write 'test: null' to train without an evaluation"
        )
    return cfg
