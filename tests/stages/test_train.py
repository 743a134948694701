"""Shared training machinery: LoRA through peft (adapter, merge, resume) and multi-process (DDP) runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import make_dataset
from safetensors.torch import load_file

from seltda.core.fileio import SeltdaInputError
from seltda.core.records import read_records, write_records
from seltda.run.stage import read_stage, stage_complete
from seltda.stages.student import train_student
from seltda.stages.student_config import StudentConfig
from seltda.stages.teacher import train_teacher
from seltda.stages.teacher_config import TeacherConfig
from seltda.stages.train import (
    ADAPTER_DIR,
    LossTrainer,
    freeze_vision_tower,
    last_checkpoint,
    lora_targets,
    merge_adapter_from_disk,
    parameter_counts,
)
from seltda.stages.train_config import TrainingConfig

RANK = 4
LORA = dict(lora=True, lora_rank=RANK, learning_rate=1e-2)
_ADAPTER_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_[AB]\.weight$")


def student_config(model: Path) -> StudentConfig:
    return StudentConfig(model=str(model), max_steps=4, batch_size=8, save_steps=2, synthetic_ratio=0, **LORA)


def adapted_modules(adapter_dir: Path) -> dict[str, int]:
    """{module name: LoRA parameters} from a saved adapter."""
    counts: dict[str, int] = {}
    for key, tensor in load_file(adapter_dir / "adapter_model.safetensors").items():
        match = _ADAPTER_KEY.match(key)
        assert match, key
        counts[match["module"]] = counts.get(match["module"], 0) + tensor.numel()
    return counts


def linear_sizes(state: dict[str, torch.Tensor], module: str) -> tuple[int, int]:
    out_features, in_features = state[f"{module}.weight"].shape
    return in_features, out_features


@pytest.fixture(scope="module")
def lora_student(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> dict:
    """A LoRA student trained 4 steps (checkpoint every 2) on the tiny dataset."""
    root = tmp_path_factory.mktemp("lora-data")
    write_records(root / "train.jsonl", make_dataset(root))
    out = root / "student"
    metrics = train_student([root / "train.jsonl"], root, out, student_config(tiny_model))
    return {"root": root, "out": out, "metrics": metrics}


def test_lora_student_trains_only_the_adapter(lora_student, tiny_model):
    out, metrics = lora_student["out"], lora_student["metrics"]
    base = load_file(tiny_model / "model.safetensors")
    merged = load_file(out / "model.safetensors")
    adapted = adapted_modules(out / ADAPTER_DIR)
    # BLIP default: 4 attention + 4 cross-attention + 2 MLP linears per layer, text encoder and decoder only
    assert len(adapted) == 20
    assert all(m.startswith(("text_encoder.encoder.", "text_decoder.bert.encoder.")) for m in adapted)
    for module, count in adapted.items():
        assert count == RANK * sum(linear_sizes(base, module))  # A: r x in, B: out x r
    trainable = metrics["parameters"]["trainable"]
    assert trainable == sum(adapted.values()) > 0
    assert metrics["parameters"]["total"] == sum(t.numel() for t in base.values()) + trainable
    # merged folder: a plain model (same tensors as the base checkpoint); only adapted weights moved
    assert set(merged) == set(base)
    changed = {key for key in base if not torch.equal(base[key], merged[key])}
    assert changed == {f"{module}.weight" for module in adapted}
    assert not list(out.glob("adapter_*")) and (out / "config.json").is_file()
    assert read_stage(out)["config"]["lora"] is True and metrics["steps"] == 4


def test_merged_model_answers_like_the_peft_model(lora_student, tiny_model):
    from peft import PeftModel
    from PIL import Image
    from transformers import BlipForQuestionAnswering

    from seltda.models.blip import BlipAdapter, load_vqa_model

    out, root = lora_student["out"], lora_student["root"]
    adapter = BlipAdapter.from_pretrained(str(out))
    records = read_records(root / "train.jsonl")[:6]
    images = [Image.open(root / r.image).convert("RGB") for r in records]
    batch = adapter.vqa_batch(adapter.prepare_images(images), [r.question for r in records])
    merged = load_vqa_model(str(out)).eval()
    unmerged = PeftModel.from_pretrained(load_vqa_model(str(tiny_model)), str(out / ADAPTER_DIR)).eval()
    base = load_vqa_model(str(tiny_model)).eval()
    with torch.inference_mode():  # PeftModel forwards `vision_model`, `text_encoder`, ... to the base model
        states = {
            name: adapter.encode_questions(m, batch)
            for name, m in [("merged", merged), ("peft", unmerged), ("base", base)]
        }
    assert torch.allclose(states["merged"], states["peft"], atol=1e-5)
    assert not torch.allclose(states["merged"], states["base"], atol=1e-3)  # the adapter did something
    assert adapter.answer(merged, batch) == adapter.answer(unmerged, batch)
    # the FSDP/DeepSpeed path (reload the base, merge the saved adapter) gives the same weights
    from_disk = merge_adapter_from_disk(BlipForQuestionAnswering, out / ADAPTER_DIR).state_dict()
    for key, value in merged.state_dict().items():
        assert torch.allclose(value, from_disk[key], atol=1e-6), key


def test_lora_training_resumes_from_an_adapter_checkpoint(
    lora_student, tiny_model, dataset, tmp_path, monkeypatch
):
    cfg = student_config(tiny_model)
    original = LossTrainer.compute_loss
    calls = []

    def crash_on_third_step(self, model, inputs, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return original(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(LossTrainer, "compute_loss", crash_on_third_step)
    with pytest.raises(KeyboardInterrupt):
        train_student([dataset["train"]], dataset["root"], tmp_path / "s", cfg)
    checkpoint = tmp_path / "s" / "checkpoints" / "checkpoint-2"
    assert (checkpoint / "adapter_model.safetensors").is_file()
    assert not (checkpoint / "model.safetensors").exists()  # checkpoints hold the adapter, not the model
    monkeypatch.setattr(LossTrainer, "compute_loss", original)
    metrics = train_student([dataset["train"]], dataset["root"], tmp_path / "s", cfg)
    assert metrics["resumed_from"] == "checkpoint-2" and metrics["steps"] == 4
    # the resumed run ends where the uninterrupted one did (same data, same config)
    resumed = load_file(tmp_path / "s" / ADAPTER_DIR / "adapter_model.safetensors")
    straight = load_file(lora_student["out"] / ADAPTER_DIR / "adapter_model.safetensors")
    assert resumed.keys() == straight.keys()
    for key in resumed:
        assert torch.allclose(resumed[key], straight[key], atol=1e-5), key


def test_resume_picks_the_latest_complete_checkpoint(tmp_path):
    for step, complete in [(200, True), (1000, True), (1200, False)]:  # 1200: killed while saving
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    assert last_checkpoint(tmp_path) == tmp_path / "checkpoint-1000"  # by step, not by name
    assert last_checkpoint(tmp_path / "missing") is None


def test_lora_teacher_step_with_gradient_checkpointing(dataset, tiny_model, tmp_path):
    from seltda.models.blip import load_vqg_model

    cfg = TeacherConfig(
        model=str(tiny_model), max_steps=2, batch_size=8, save_steps=100, gradient_checkpointing=True, **LORA
    )
    out = tmp_path / "teacher"
    metrics = train_teacher(dataset["train"], dataset["root"], out, cfg)
    adapted = adapted_modules(out / ADAPTER_DIR)
    assert len(adapted) == 10 and all(m.startswith("text_decoder.bert.encoder.") for m in adapted)
    assert metrics["parameters"]["trainable"] == sum(adapted.values()) > 0
    assert metrics["steps"] == 2 and stage_complete(out)
    merged = load_file(out / "model.safetensors")
    assert not any("lora_" in key or "base_layer" in key for key in merged)
    assert load_vqg_model(str(out)).config.model_type == "blip"  # a plain model folder


def test_default_lora_targets_per_family():
    class Fake(torch.nn.Module):
        def __init__(self, model_type: str, names: list[str]) -> None:
            super().__init__()
            self.config = type("Config", (), {"model_type": model_type})()
            for name in names:
                self.add_module(name, torch.nn.Linear(2, 2))

    assert lora_targets(Fake("llava", ["q_proj", "v_proj", "fc"]), TrainingConfig()) == [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
    ]
    assert lora_targets(Fake("llava", ["q_proj"]), TrainingConfig(lora_targets=["fc"])) == ["fc"]
    with pytest.raises(SeltdaInputError, match="lora_targets"):
        lora_targets(Fake("other", ["dense"]), TrainingConfig())


def _torchrun(args: list[str], cwd: Path, returncode: int = 0) -> subprocess.CompletedProcess:
    """`torchrun --nproc_per_node 2 -m seltda.cli ARGS` on CPUs (gloo), as a user would launch it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("ACCELERATE_USE_CPU", None)  # plain torchrun on a CPU-only machine must give DDP by itself
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    done = subprocess.run(
        [*command, "-m", "seltda.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == returncode, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def _student_args(dataset: dict, tiny_model: Path, out: Path, *extra: str) -> list[str]:
    return [
        "student",
        "--train",
        str(dataset["train"]),
        "--images",
        str(dataset["root"]),
        "--out",
        str(out),
        "--model",
        str(tiny_model),
        "--steps",
        "3",
        "--batch-size",
        "4",
        *extra,
    ]


def _written_files(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "checkpoints" not in p.parts
    }


@pytest.mark.slow
def test_two_process_student_run_matches_one_process(dataset, tiny_model, tmp_path):
    one = train_student(
        [dataset["train"]],
        dataset["root"],
        tmp_path / "one",
        StudentConfig(model=str(tiny_model), max_steps=3, batch_size=4, synthetic_ratio=0),
    )
    _torchrun(_student_args(dataset, tiny_model, tmp_path / "two"), tmp_path)
    two = read_stage(tmp_path / "two")
    assert two["stage"] == "baseline" and set(two["metrics"]) == set(one)
    assert two["metrics"]["steps"] == one["steps"] == 3
    assert (one["processes"], two["metrics"]["processes"]) == (1, 2)
    assert two["config"] == read_stage(tmp_path / "one")["config"]
    assert _written_files(tmp_path / "two") == _written_files(tmp_path / "one")
    assert not list((tmp_path / "two").glob(".*.tmp"))  # no atomic write left half-done
    # data parallel: 2 processes x 4 examples per step see the 24 records in 3 steps (one process: half)
    epochs = [
        json.loads((tmp_path / name / "trainer_log.json").read_text())[-1]["epoch"] for name in ("one", "two")
    ]
    assert epochs == [0.5, 1.0]
    weights = load_file(tmp_path / "two" / "model.safetensors")
    assert weights.keys() == load_file(tmp_path / "one" / "model.safetensors").keys()


@pytest.mark.slow
def test_two_process_lora_student_through_the_cli(dataset, tiny_model, tmp_path):
    options = ["--lora", "--lora-rank", str(RANK), "--gradient-checkpointing"]
    _torchrun(_student_args(dataset, tiny_model, tmp_path / "two", *options), tmp_path)
    stage = read_stage(tmp_path / "two")
    assert stage["config"]["lora"] is True and stage["config"]["lora_rank"] == RANK
    assert stage["config"]["gradient_checkpointing"] is True
    assert stage["metrics"]["processes"] == 2 and stage["metrics"]["steps"] == 3
    adapted = adapted_modules(tmp_path / "two" / ADAPTER_DIR)
    assert stage["metrics"]["parameters"]["trainable"] == sum(adapted.values())
    merged = load_file(tmp_path / "two" / "model.safetensors")
    base = load_file(tiny_model / "model.safetensors")
    assert {key for key in base if not torch.equal(base[key], merged[key])} == {
        f"{m}.weight" for m in adapted
    }


FSDP = "full_shard auto_wrap"


def test_sharding_that_accelerate_did_not_enable_is_refused(tiny_model, tmp_path):
    """A Trainer without FSDP/DeepSpeed (as accelerate gives CPU processes) under a config asking for them."""
    from transformers import BlipForQuestionAnswering

    from seltda.stages.train import require_sharding, training_arguments

    cfg = TrainingConfig(max_steps=1, learning_rate=1e-3)
    model = BlipForQuestionAnswering.from_pretrained(tiny_model)
    trainer = LossTrainer(model, training_arguments(cfg, tmp_path), loss_fn=lambda m, b: torch.zeros(()))
    require_sharding(trainer, cfg)  # nothing asked, nothing refused
    with pytest.raises(SeltdaInputError, match=r"^fsdp set, but accelerate \S+ did not enable it"):
        require_sharding(trainer, cfg.model_copy(update={"fsdp": FSDP}))
    with pytest.raises(SeltdaInputError, match="^fsdp and deepspeed set"):
        require_sharding(trainer, cfg.model_copy(update={"fsdp": FSDP, "deepspeed": "ds.json"}))


@pytest.mark.slow
def test_two_cpu_process_fsdp_is_refused_not_trained_as_ddp(dataset, tiny_model, tmp_path):
    """accelerate 1.15 runs CPU processes as MULTI_CPU (DDP) and drops the FSDP plugin: the stage stops with
    one clear error on every rank instead of training DDP under a config that records FSDP."""
    done = _torchrun(_student_args(dataset, tiny_model, tmp_path / "two", "--fsdp", FSDP), tmp_path, 1)
    refusal = "error: fsdp set, but accelerate"
    assert done.stderr.count(refusal) == 2 and "MULTI_CPU, 2 process(es)" in done.stderr  # each rank
    assert not (tmp_path / "two" / "model.safetensors").exists()
    assert not stage_complete(tmp_path / "two")


def test_parameter_counts_of_a_lora_model_match_its_parameters(tiny_model):
    from seltda.models.blip import load_vqa_model
    from seltda.stages.train import add_lora

    model = add_lora(load_vqa_model(str(tiny_model)), TrainingConfig(lora=True, lora_rank=RANK))
    counts = parameter_counts(model)
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert 0 < counts["trainable"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert parameter_counts(model.get_base_model()) == counts  # the same parameters, unwrapped


def test_image_records_refuse_an_image_outside_the_root(tmp_path):
    from seltda.core.records import Record, UnsafePathError
    from seltda.stages.image_records import ImageRecords

    root = tmp_path / "root"
    root.mkdir()
    os.symlink(tmp_path, root / "up")
    record = Record(question_id="q", image="up/x.png", question="q?", answers=["a"])
    with pytest.raises(UnsafePathError, match="outside the image root"):
        ImageRecords([record], root, lambda images: images, cache=True)


def test_frozen_vision_tower_keeps_its_weights_and_the_rest_trains(dataset, tiny_model, tmp_path):
    cfg = TeacherConfig(
        model=str(tiny_model), max_steps=2, batch_size=8, save_steps=100, freeze_vision_tower=True
    )
    out = tmp_path / "teacher"
    metrics = train_teacher(dataset["train"], dataset["root"], out, cfg)
    before, after = load_file(tiny_model / "model.safetensors"), load_file(out / "model.safetensors")
    vision = [key for key in after if key.startswith("vision_model.")]
    assert vision and all(torch.equal(before[key], after[key]) for key in vision)
    changed = [key for key in after if key in before and not torch.equal(before[key], after[key])]
    assert changed and all(key.startswith("text_decoder.") for key in changed)
    assert 0 < metrics["parameters"]["trainable"] < metrics["parameters"]["total"]


def test_freezing_finds_the_vision_tower_or_says_it_cannot():
    class Model(torch.nn.Module):
        def __init__(self, tower: str) -> None:
            super().__init__()
            self.model = torch.nn.Module()
            self.model.add_module(tower, torch.nn.Linear(2, 2))
            self.lm_head = torch.nn.Linear(2, 2)

    for tower in ("vision_model", "vision_tower", "visual"):  # Idefics3, LLaVA/PaliGemma, Qwen2-VL
        model = Model(tower)
        assert freeze_vision_tower(model) == 2
        trainable = [n for n, p in model.named_parameters() if p.requires_grad]
        assert trainable == ["lm_head.weight", "lm_head.bias"]
    with pytest.raises(SeltdaInputError, match="freeze_vision_tower"):
        freeze_vision_tower(Model("image_encoder"))
