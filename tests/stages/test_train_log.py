"""What a training run prints: one compact line per logging step; tied keys are no resume warning."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import torch
from transformers import BlipForQuestionAnswering, TrainingArguments

from seltda.stages import train_log
from seltda.stages.train import LossTrainer
from seltda.stages.train_log import CompactLog, duration


def test_one_line_per_log_with_loss_rate_and_eta(monkeypatch, capsys):
    clock = iter([100.0, 110.0])
    monkeypatch.setattr(train_log.time, "perf_counter", lambda: next(clock))
    log = CompactLog("teacher")
    state = SimpleNamespace(global_step=0, max_steps=600, is_world_process_zero=True)
    log.on_train_begin(None, state, None)
    state.global_step = 20
    log.on_log(None, state, None, logs={"loss": 0.5321, "learning_rate": 9.1e-4, "epoch": 1.0})
    line = capsys.readouterr().err.strip()
    assert line == "teacher  step 20/600 (3%)  loss 0.532  lr 9.1e-04  2.00 steps/s  eta 4m50s"
    log.on_log(None, state, None, logs={"train_runtime": 3.0})  # the Trainer's closing dict: no line
    assert capsys.readouterr().err == ""


def test_durations_read_as_a_person_says_them():
    assert [duration(s) for s in (12, 228, 3720)] == ["12s", "3m48s", "1h02m"]


def test_tied_keys_missing_from_a_checkpoint_are_not_a_warning(tiny_model, tmp_path, caplog):
    model = BlipForQuestionAnswering.from_pretrained(tiny_model)
    trainer = LossTrainer(
        model=model,
        args=TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none"),
        loss_fn=lambda m, b: torch.zeros(()),
    )
    tied = [n for n, p in model.named_parameters(remove_duplicate=False) if "cls.predictions.decoder" in n]
    assert tied  # BLIP's decoder head shares its embeddings
    keys = torch.nn.modules.module._IncompatibleKeys
    unknown = keys(missing_keys=["text_encoder.not.a.weight"], unexpected_keys=[])
    with caplog.at_level(logging.WARNING, logger="transformers.trainer"):
        trainer._issue_warnings_after_load(keys(missing_keys=tied, unexpected_keys=[]))
        assert "missing keys" not in caplog.text
        trainer._issue_warnings_after_load(unknown)
    assert "missing keys" in caplog.text
