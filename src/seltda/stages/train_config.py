"""Optimisation settings shared by the teacher, the student and pretraining."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


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
    max_pixels: int | None = None  # dynamic-resolution VLMs: downscale images above this many pixels
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, slower
    lora: bool = False  # train a LoRA adapter (peft) instead of all weights; the merged model is saved
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: list[str] | None = None  # module name suffixes; None: the model family's default
