"""What the teacher and the student share: image-backed datasets, the Trainer, stage bookkeeping.

Training goes through `transformers.Trainer`, so `accelerate launch`/`torchrun`, DeepSpeed, FSDP,
mixed precision, logging and checkpoint resume come from the library. A stage folder is complete when
its `seltda_stage.json` exists: it is written last, atomically, after the model is saved.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict
from torch.utils.data import Dataset
from transformers import Trainer, TrainingArguments

from seltda.fileio import atomic_write_json, environment_info
from seltda.images import try_load_image
from seltda.records import Record, resolve_image_path

STAGE_FILE = "seltda_stage.json"
AUTO_CACHE_IMAGES = 20_000  # above this, images are decoded lazily (memory stays bounded)


class TrainingConfig(BaseModel):
    """Optimisation settings shared by the teacher and the student."""

    model_config = ConfigDict(extra="forbid")

    max_steps: int = 600
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    lr_scheduler: str = "cosine"
    gradient_accumulation_steps: int = 1
    seed: int = 0
    save_steps: int = 200
    logging_steps: int = 20
    dataloader_workers: int = 0
    precision: str = "auto"  # auto: bf16 on a GPU that supports it, else fp32
    cache_images: bool | None = None  # None: cache decoded images when there are at most 20,000
    deepspeed: str | None = None
    fsdp: str = ""
    report_to: str = "none"


def stage_complete(folder: Path) -> bool:
    return (Path(folder) / STAGE_FILE).is_file()


def read_stage(folder: Path) -> dict[str, Any]:
    return json.loads((Path(folder) / STAGE_FILE).read_text())


def write_stage(folder: Path, stage: str, config: BaseModel, metrics: dict[str, Any], **extra: Any) -> None:
    """Record a finished stage: its config, environment, metrics; its presence marks completion."""
    payload = {
        "stage": stage,
        "config": config.model_dump(mode="json"),
        "metrics": metrics,
        "env": environment_info(),
        **extra,
    }
    atomic_write_json(Path(folder) / STAGE_FILE, payload)


class ImageRecords(Dataset):
    """Records with their images; unreadable images are skipped and counted, never fatal.

    With `cache=True` every image is decoded and preprocessed once, up front (small datasets; the default
    up to 20,000 images); otherwise images are read lazily and an unreadable one yields `None`, which the
    collators drop.
    """

    def __init__(
        self,
        records: Sequence[Record],
        image_root: Path,
        to_pixels: Callable[[list], torch.Tensor],
        cache: bool | None = None,
    ) -> None:
        self.image_root = Path(image_root)
        self.to_pixels = to_pixels
        self.skipped: Counter[str] = Counter()
        self._pixels: dict[str, torch.Tensor] = {}
        if cache is None:
            cache = len({r.image for r in records}) <= AUTO_CACHE_IMAGES
        if cache:
            records = self._preload(records)
        self.records = list(records)

    def _preload(self, records: Sequence[Record]) -> list[Record]:
        from seltda.progress import track

        unreadable: set[str] = set()
        for name in track(sorted({r.image for r in records}), description="loading images"):
            pixels = self._load(name)
            if pixels is None:
                unreadable.add(name)
            else:
                self._pixels[name] = pixels
        kept = [r for r in records if r.image not in unreadable]
        self.skipped["records_with_unreadable_image"] += len(records) - len(kept)
        return kept

    def _load(self, name: str) -> torch.Tensor | None:
        image, reason = try_load_image(resolve_image_path(self.image_root, name))
        if image is None:
            self.skipped[reason or "unreadable"] += 1
            return None
        return self.to_pixels([image])[0]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        record = self.records[index]
        pixels = self._pixels.get(record.image)
        if pixels is None:
            pixels = self._load(record.image)
            if pixels is None:
                return None
        return {"pixel_values": pixels, "record": record}


class LossTrainer(Trainer):
    """A `Trainer` whose loss is a SelTDA objective computed by the model adapter."""

    def __init__(self, *args: Any, loss_fn: Callable[[Any, dict], torch.Tensor], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loss_fn = loss_fn

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = self.loss_fn(model, inputs)
        return (loss, None) if return_outputs else loss


def training_arguments(cfg: TrainingConfig, out_dir: Path) -> TrainingArguments:
    use_bf16 = cfg.precision == "bf16" or (
        cfg.precision == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    )
    return TrainingArguments(
        output_dir=str(out_dir / "checkpoints"),
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        warmup_steps=int(cfg.warmup_ratio * cfg.max_steps),
        lr_scheduler_type=cfg.lr_scheduler,
        logging_steps=min(cfg.logging_steps, max(1, cfg.max_steps // 10)),  # short runs still log a curve
        save_steps=cfg.save_steps,
        save_total_limit=1,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=use_bf16,
        fp16=cfg.precision == "fp16",
        dataloader_num_workers=cfg.dataloader_workers,
        remove_unused_columns=False,
        report_to=cfg.report_to,
        deepspeed=cfg.deepspeed,
        fsdp=cfg.fsdp,
        disable_tqdm=False,
        dataloader_pin_memory=torch.cuda.is_available(),
    )


def train(
    model: torch.nn.Module,
    dataset: Dataset,
    collator: Callable[[list], dict],
    loss_fn: Callable[[Any, dict], torch.Tensor],
    cfg: TrainingConfig,
    out_dir: Path,
) -> tuple[Trainer, dict[str, Any]]:
    """Train with the Trainer, resuming from the last checkpoint in `out_dir/checkpoints` if any."""
    out_dir = Path(out_dir)
    args = training_arguments(cfg, out_dir)
    trainer = LossTrainer(
        model=model, args=args, train_dataset=dataset, data_collator=collator, loss_fn=loss_fn
    )
    checkpoints = sorted((out_dir / "checkpoints").glob("checkpoint-*"))
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    metrics = {
        "train_loss": result.training_loss,
        "final_logged_loss": losses[-1] if losses else None,
        "steps": trainer.state.global_step,
        "resumed_from": checkpoints[-1].name if checkpoints else None,
        "train_seconds": round(time.perf_counter() - start, 2),
    }
    return trainer, metrics


def save_trained(trainer: Trainer, processor: Any, out_dir: Path) -> None:
    """Save the final model (safetensors), its processor and the trainer log into the stage folder."""
    out_dir = Path(out_dir)
    trainer.save_model(str(out_dir))
    if trainer.is_world_process_zero():
        processor.save_pretrained(out_dir)
        atomic_write_json(out_dir / "trainer_log.json", trainer.state.log_history)
