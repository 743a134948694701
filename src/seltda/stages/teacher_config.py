"""Configuration of the teacher: the VLM fine-tuned to write a question and its answers from an image."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seltda.stages.train_config import TrainingConfig


class TeacherConfig(TrainingConfig):
    """Teacher (visual question generation) training settings."""

    model: str = Field("base", description="folder or hub id of the VLM to fine-tune")
    answers: Literal["distinct", "all"] = Field(
        "distinct", description="target answers: distinct ones by frequency, or all as annotated"
    )
    max_answers: int = Field(10, ge=1, description="answers written per target question")
    max_target_tokens: int = Field(48, ge=1, description="target text length in tokens")
