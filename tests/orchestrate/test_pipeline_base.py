"""The run's base model: the shipped pretrained tiny BLIP fitted to the data unless a model is given."""

from __future__ import annotations

from pathlib import Path

import torch
from conftest import TINY, make_dataset
from transformers import AutoProcessor, BlipForQuestionAnswering

from seltda.core.records import Record, write_records
from seltda.models.registry import PRETRAINED_TINY
from seltda.models.tiny_blip import SCRATCH_TINY
from seltda.orchestrate.pipeline import RunConfig, build_base_model
from seltda.run.layout import RunLayout
from seltda.run.stage import read_stage
from seltda.stages.teacher import train_teacher
from seltda.stages.teacher_config import TeacherConfig


def _digits_data(root: Path) -> Path:
    """The conftest shapes plus questions whose words the shipped vocabulary lacks."""
    records = make_dataset(root, count=4)
    records += [
        Record(question_id=f"d{i}", image=r.image, question="what digit is this?", answers=["seven"])
        for i, r in enumerate(records[::2])
    ]
    write_records(root / "train.jsonl", records)
    return root / "train.jsonl"


def _config(root: Path, model: str | None) -> RunConfig:
    return RunConfig(out=root / "run", train=_digits_data(root), images=root, model=model, tiny=TINY)


def test_omitted_model_is_the_pretrained_tiny_blip_extended_to_the_records(tmp_path):
    cfg = _config(tmp_path, None)
    base = build_base_model(cfg)
    assert base == str(RunLayout(cfg.out).base)
    record = read_stage(Path(base))
    assert record["stage"] == "base" and record["config"]["model"] == PRETRAINED_TINY
    assert record["metrics"]["added_tokens"] > 0 and record["metrics"]["records"] == 12
    tokenizer = AutoProcessor.from_pretrained(base).tokenizer
    assert tokenizer.tokenize("question: what digit is this? answer: seven") == [
        "question",
        ":",
        "what",
        "digit",
        "is",
        "this",
        "?",
        "answer",
        ":",
        "seven",
    ]
    model = BlipForQuestionAnswering.from_pretrained(base)
    assert model.config.vision_config.hidden_size == 128  # the shipped size, not `cfg.tiny`
    assert model.config.text_config.vocab_size == record["metrics"]["vocab_size"] == len(tokenizer)
    # written once: a second call finds the stage complete and leaves the folder alone
    weights = (Path(base) / "model.safetensors").stat().st_mtime_ns
    assert build_base_model(cfg) == base
    assert (Path(base) / "model.safetensors").stat().st_mtime_ns == weights
    # naming the shipped model gives the same extension
    named = build_base_model(_config(tmp_path / "named", PRETRAINED_TINY))
    assert (Path(named) / "model.safetensors").read_bytes() == (Path(base) / "model.safetensors").read_bytes()


def test_scratch_name_builds_the_random_tiny_blip_and_other_models_are_used_as_they_are(tmp_path, tiny_model):
    cfg = _config(tmp_path, SCRATCH_TINY)
    base = build_base_model(cfg)
    assert base == str(RunLayout(cfg.out).base)
    assert read_stage(Path(base))["config"] == TINY.model_dump(mode="json")
    model = BlipForQuestionAnswering.from_pretrained(base)
    assert model.config.vision_config.hidden_size == TINY.hidden_size
    given = _config(tmp_path / "given", str(tiny_model))
    assert build_base_model(given) == str(tiny_model) and not RunLayout(given.out).base.exists()


def test_teacher_trains_on_the_extended_base(tmp_path):
    cfg = _config(tmp_path, None)
    base = build_base_model(cfg)
    teacher_cfg = TeacherConfig(model=base, max_steps=10, batch_size=4, save_steps=1000)
    metrics = train_teacher(cfg.train, tmp_path, tmp_path / "teacher", teacher_cfg)
    assert metrics["steps"] == 10 and torch.isfinite(torch.tensor(metrics["train_loss"]))
    assert (tmp_path / "teacher" / "model.safetensors").exists()
    assert read_stage(tmp_path / "teacher")["stage"] == "teacher"
