import pytest

from seltda.core.records import Provenance, Record, read_records, write_records
from seltda.run.stage import read_stage, stage_complete
from seltda.stages.student import mix, soft_targets, train_student
from seltda.stages.student_config import StudentConfig
from seltda.stages.train import LossTrainer


def synthetic(i):
    return Record(
        question_id=f"s{i}",
        image="images/000.png",
        question="what?",
        answers=["red"],
        source="synthetic",
        provenance=Provenance(teacher="t", score=-1.0),
    )


def test_mix_ratio_and_seed(dataset):
    real = dataset["records"]
    pool = [synthetic(i) for i in range(100)]
    assert len(mix(real, pool, 1.0, 0)) == len(real)
    assert len(mix(real, pool, 2.0, 0)) == 2 * len(real)
    assert len(mix(real, pool[:5], 1.0, 0)) == 5
    assert mix(real, pool, 0.0, 0) == []
    assert mix(real, pool, 1.0, 3) == mix(real, pool, 1.0, 3)


def test_soft_targets_are_answer_shares():
    record = Record(question_id="1", image="a.png", question="q?", answers=["red"] * 8 + ["dark red"] * 2)
    assert soft_targets(record, 10) == (["red", "dark red"], [0.8, 0.2])
    assert soft_targets(record, 1) == (["red"], [1.0])


def test_student_trains_on_real_and_synthetic(dataset, tiny_model, tmp_path):
    pool = [synthetic(i) for i in range(10)]
    write_records(tmp_path / "syn.jsonl", pool)
    cfg = StudentConfig(model=str(tiny_model), max_steps=2, batch_size=4, save_steps=100)
    metrics = train_student([dataset["train"]], dataset["root"], tmp_path / "s", cfg, tmp_path / "syn.jsonl")
    assert metrics["real_records"] == 24 and metrics["synthetic_records"] == 10
    stage = read_stage(tmp_path / "s")
    assert (
        stage["stage"] == "student"
        and stage["config"]["max_steps"] == 2
        and "torch" in stage["env"]["packages"]
    )
    assert (tmp_path / "s" / "model.safetensors").exists()


def test_unreadable_training_image_is_skipped_and_counted(dataset, tiny_model, tmp_path):
    (dataset["root"] / "images" / "000.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    cfg = StudentConfig(model=str(tiny_model), max_steps=1, batch_size=4)
    metrics = train_student([dataset["train"]], dataset["root"], tmp_path / "s", cfg)
    assert metrics["real_records"] == 22
    assert metrics["skipped"]["records_with_unreadable_image"] == 2


def test_interrupted_training_resumes_from_checkpoint(dataset, tiny_model, tmp_path, monkeypatch):
    cfg = StudentConfig(model=str(tiny_model), max_steps=4, batch_size=4, save_steps=2, synthetic_ratio=0)
    original = LossTrainer.compute_loss
    calls = []

    def crash_on_third_step(self, model, inputs, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return original(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(LossTrainer, "compute_loss", crash_on_third_step)
    with pytest.raises(KeyboardInterrupt):
        train_student([dataset["train"]], dataset["root"], tmp_path / "b", cfg)
    assert not stage_complete(tmp_path / "b")
    monkeypatch.setattr(LossTrainer, "compute_loss", original)
    metrics = train_student([dataset["train"]], dataset["root"], tmp_path / "b", cfg)
    assert metrics["resumed_from"] == "checkpoint-2" and metrics["steps"] == 4
    # a complete stage is not trained again
    assert train_student([dataset["train"]], dataset["root"], tmp_path / "b", cfg) == metrics
    assert len(read_records(dataset["train"])) == 24


def test_lazy_image_loading_skips_unreadable_images(dataset, tiny_model, tmp_path):
    (dataset["root"] / "images" / "003.png").write_bytes(b"")
    cfg = StudentConfig(model=str(tiny_model), max_steps=2, batch_size=6, cache_images=False)
    metrics = train_student([dataset["train"]], dataset["root"], tmp_path / "lazy", cfg)
    assert metrics["steps"] == 2 and metrics["skipped"].get("empty", 0) >= 1
