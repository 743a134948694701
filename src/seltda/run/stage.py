"""The stage marker: a stage folder is complete once its `seltda_stage.json` exists (written last)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from seltda.core.fileio import atomic_write_json, environment_info

STAGE_FILE = "seltda_stage.json"


def stage_complete(folder: Path) -> bool:
    return (Path(folder) / STAGE_FILE).is_file()


def read_stage(folder: Path) -> dict[str, Any]:
    return json.loads((Path(folder) / STAGE_FILE).read_text())


def write_stage(folder: Path, stage: str, config: BaseModel, metrics: dict[str, Any], **extra: Any) -> None:
    """Record a finished stage: its config, environment, metrics; its presence marks completion."""
    payload = {
        "stage": stage,
        "config": config.model_dump(mode="json"),
        "metrics": metrics,
        "env": environment_info(),
        **extra,
    }
    atomic_write_json(Path(folder) / STAGE_FILE, payload)
