"""The stage marker: a stage folder is complete once its `seltda_stage.json` exists (written last)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from seltda.core.fileio import environment_info
from seltda.run.artifacts import StageRecord

STAGE_FILE = "seltda_stage.json"


def stage_complete(folder: Path) -> bool:
    return (Path(folder) / STAGE_FILE).is_file()


def read_stage(folder: Path) -> StageRecord:
    """The stage's record; `record["metrics"]` and `record["<extra>"]` read it like the JSON object."""
    return StageRecord.read(Path(folder) / STAGE_FILE)


def write_stage(folder: Path, stage: str, config: BaseModel, metrics: dict[str, Any], **extra: Any) -> None:
    """Record a finished stage: its config, environment, metrics; its presence marks completion."""
    record = StageRecord(
        stage=stage,
        config=config.model_dump(mode="json"),
        metrics=metrics,
        env=environment_info(),
        **extra,
    )
    record.write(Path(folder) / STAGE_FILE)
