"""Configuration of the teacher: the VLM fine-tuned to write a question and its answers from an image."""

from __future__ import annotations

from typing import Literal

from seltda.stages.train_config import TrainingConfig


class TeacherConfig(TrainingConfig):
    """Teacher (visual question generation) training settings."""

    model: str = "base"  # folder or hub id of the VLM to fine-tune
    answers: Literal["distinct", "all"] = "distinct"  # distinct answers by frequency (default) or all
    max_answers: int = 10
    max_target_tokens: int = 48
