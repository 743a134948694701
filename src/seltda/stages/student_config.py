"""Configuration of the student (and of the baseline: the same training without synthetic records)."""

from __future__ import annotations

from pydantic import Field

from seltda.stages.train_config import TrainingConfig


class StudentConfig(TrainingConfig):
    """VQA fine-tuning on real records plus, optionally, pseudo-labeled ones."""

    model: str = Field(
        "base", description="folder or hub id of the VLM to fine-tune (the original VLM, not the teacher)"
    )
    synthetic_ratio: float = Field(1.0, ge=0, description="synthetic records per real record (0: baseline)")
    max_answers: int = Field(10, ge=1, description="distinct answers kept per question as soft targets")
    max_question_tokens: int = Field(32, ge=1, description="question length in tokens")
    max_answer_tokens: int = Field(16, ge=1, description="answer length in tokens")
    noise: bool = Field(
        False,
        description="Noisy Student: augment the images (mild crop and shift, no flips or colour changes) "
        "and train with dropout",
    )
    dropout: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="with noise: dropout probability while training (the saved model keeps its own)",
    )
