"""The training stages take their records the same way: one path (Path or str) or a list of paths."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from seltda.run.stage import read_stage
from seltda.stages.image_records import record_files
from seltda.stages.student import train_student
from seltda.stages.student_config import StudentConfig
from seltda.stages.teacher import train_teacher
from seltda.stages.teacher_config import TeacherConfig


def test_both_stages_declare_the_same_input_types() -> None:
    student, teacher = inspect.signature(train_student), inspect.signature(train_teacher)
    assert list(student.parameters) == list(teacher.parameters)
    for name in (
        "train_files",
        "image_root",
        "out_dir",
        "synthetic_file",
        "synthetic_image_root",
        "callbacks",
    ):
        assert student.parameters[name].annotation == teacher.parameters[name].annotation, name


def test_record_files_wraps_one_path_and_keeps_lists() -> None:
    assert record_files(Path("a.jsonl")) == [Path("a.jsonl")]
    assert record_files("a.jsonl") == ["a.jsonl"]
    assert record_files([Path("a.jsonl"), "b.jsonl"]) == [Path("a.jsonl"), "b.jsonl"]
    assert record_files((Path("a.jsonl"),)) == [Path("a.jsonl")]


@pytest.mark.parametrize("as_given", [Path, str, lambda path: [path]])
def test_student_takes_one_path_or_a_list(dataset, tiny_model, tmp_path, as_given) -> None:
    cfg = StudentConfig(model=str(tiny_model), max_steps=1, batch_size=4, save_steps=100)
    metrics = train_student(as_given(dataset["train"]), dataset["root"], tmp_path / "s", cfg)
    assert metrics["real_records"] == 24
    assert read_stage(tmp_path / "s")["train_files"] == [str(dataset["train"])]


def test_teacher_takes_one_path_or_a_list(dataset, tiny_model, tmp_path) -> None:
    cfg = TeacherConfig(model=str(tiny_model), max_steps=1, batch_size=4, save_steps=100)
    one = train_teacher(Path(dataset["train"]), dataset["root"], tmp_path / "one", cfg)
    listed = train_teacher([dataset["train"]], dataset["root"], tmp_path / "listed", cfg)
    assert one["records"] == listed["records"] == 24
    assert read_stage(tmp_path / "one")["train_files"] == [str(dataset["train"])]


@pytest.mark.parametrize("stage", ["student", "teacher"])
def test_both_stages_pass_a_callers_callbacks_to_the_trainer(dataset, tiny_model, tmp_path, stage) -> None:
    from transformers import TrainerCallback

    class Steps(TrainerCallback):
        def __init__(self) -> None:
            self.steps: list[int] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.steps.append(state.global_step)

    steps = Steps()
    config, train = (StudentConfig, train_student) if stage == "student" else (TeacherConfig, train_teacher)
    cfg = config(model=str(tiny_model), max_steps=2, batch_size=4, save_steps=100)
    train([dataset["train"]], dataset["root"], tmp_path / stage, cfg, callbacks=[steps])
    assert steps.steps == [1, 2]
