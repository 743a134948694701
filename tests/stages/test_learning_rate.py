"""An unset learning rate follows the model's size: the embedded tiny BLIP's 3e-4 would wreck a pretrained
VLM fine-tuned in full, which takes 2e-5 (2e-4 with LoRA); the rate chosen is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import BlipConfig, BlipForQuestionAnswering

from seltda.models.registry import parameter_count
from seltda.orchestrate.pipeline import _stage_models
from seltda.orchestrate.run_config import RunConfig
from seltda.run.stage import read_stage
from seltda.stages.student import train_student
from seltda.stages.student_config import StudentConfig
from seltda.stages.train_config import (
    FULL_FINETUNE_RATE,
    LORA_RATE,
    SMALL_MODEL_PARAMETERS,
    SMALL_MODEL_RATE,
    TrainingConfig,
    default_learning_rate,
)


@pytest.fixture(scope="module")
def large_blip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BLIP of blip-vqa-base's shape, its config alone (nothing here loads its weights)."""
    folder = tmp_path_factory.mktemp("blip-base-config")
    BlipConfig().save_pretrained(folder)
    return folder


def test_the_default_follows_the_size_and_an_explicit_rate_is_kept():
    assert default_learning_rate(SMALL_MODEL_PARAMETERS - 1, lora=False) == SMALL_MODEL_RATE == 3e-4
    assert default_learning_rate(SMALL_MODEL_PARAMETERS - 1, lora=True) == SMALL_MODEL_RATE
    assert default_learning_rate(SMALL_MODEL_PARAMETERS, lora=False) == FULL_FINETUNE_RATE == 2e-5
    assert default_learning_rate(SMALL_MODEL_PARAMETERS, lora=True) == LORA_RATE == 2e-4
    assert TrainingConfig().learning_rate is None
    assert TrainingConfig().with_learning_rate(400_000_000).learning_rate == FULL_FINETUNE_RATE
    assert TrainingConfig(learning_rate=3e-4).with_learning_rate(400_000_000).learning_rate == 3e-4


def test_parameters_are_counted_from_the_config_alone(tiny_model, large_blip):
    loaded = BlipForQuestionAnswering.from_pretrained(tiny_model)
    assert parameter_count(str(tiny_model)) == loaded.num_parameters() < SMALL_MODEL_PARAMETERS
    assert parameter_count(str(large_blip)) > 300_000_000  # blip-vqa-base has ~361M


def _run(tmp_path: Path, model: str | None, **stage) -> RunConfig:
    cfg = RunConfig(
        out=tmp_path / "run",
        train=tmp_path / "train.jsonl",
        images=tmp_path,
        model=model,
        teacher=stage,
        student=stage,
    )
    return _stage_models(cfg, model or str(tmp_path / "run/base"))


def test_a_run_records_the_rate_its_model_takes(tmp_path, large_blip):
    tiny = _run(tmp_path, None)
    assert tiny.teacher.learning_rate == tiny.student.learning_rate == SMALL_MODEL_RATE
    full = _run(tmp_path, str(large_blip))
    assert full.teacher.learning_rate == full.student.learning_rate == FULL_FINETUNE_RATE
    lora = _run(tmp_path, str(large_blip), lora=True)
    assert lora.teacher.learning_rate == lora.student.learning_rate == LORA_RATE
    chosen = _run(tmp_path, str(large_blip), learning_rate=1e-5)
    assert chosen.teacher.learning_rate == chosen.student.learning_rate == 1e-5
    assert _run(tmp_path, "tiny-blip-scratch").student.learning_rate == SMALL_MODEL_RATE


def test_a_stage_trained_without_a_rate_records_the_one_it_used(dataset, tiny_model, tmp_path):
    cfg = StudentConfig(model=str(tiny_model), max_steps=1, batch_size=4, synthetic_ratio=0)
    train_student(dataset["train"], dataset["root"], tmp_path / "student", cfg)
    assert read_stage(tmp_path / "student")["config"]["learning_rate"] == SMALL_MODEL_RATE
