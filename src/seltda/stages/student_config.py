"""Configuration of the student (and of the baseline: the same training without synthetic records)."""

from __future__ import annotations

from seltda.stages.train_config import TrainingConfig


class StudentConfig(TrainingConfig):
    """VQA fine-tuning on real records plus, optionally, pseudo-labeled ones."""

    model: str = "base"  # folder or hub id of the VLM to fine-tune (the original VLM, not the teacher)
    synthetic_ratio: float = 1.0  # synthetic records per real record (0 = baseline)
    max_answers: int = 10  # distinct answers kept per question as soft targets
    max_question_tokens: int = 32
    max_answer_tokens: int = 16
