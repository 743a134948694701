"""Optimisation settings shared by the teacher, the student and pretraining.

Each default is written here once; the command line's options and their help are generated from these
fields (`seltda.cli.options`), and `stages.train.training_arguments` maps them onto `TrainingArguments`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrainingConfig(BaseModel):
    """Optimisation settings shared by the teacher and the student."""

    model_config = ConfigDict(extra="forbid")

    max_steps: int = Field(600, ge=1, description="optimizer steps")
    batch_size: int = Field(64, ge=1, description="examples per device per step")
    learning_rate: float = Field(1e-3, gt=0, description="peak learning rate")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    warmup_ratio: float = Field(0.05, ge=0, le=1, description="share of the steps spent warming up")
    lr_scheduler: str = Field("cosine", description="transformers scheduler name (cosine, linear, ...)")
    gradient_accumulation_steps: int = Field(1, ge=1, description="batches accumulated per optimizer step")
    seed: int = Field(0, description="random seed (weights, data order, dropout)")
    save_steps: int = Field(200, ge=1, description="checkpoint every N steps (the unit of resume)")
    logging_steps: int = Field(20, ge=1, description="log the loss every N steps")
    dataloader_workers: int = Field(0, ge=0, description="image-decoding processes during training")
    precision: str = Field("auto", description="auto (bf16 on a GPU that supports it, else fp32), bf16, fp16")
    cache_images: bool | None = Field(
        None, description="decode every image once up front (default: when there are at most 20,000)"
    )
    deepspeed: str | None = Field(None, description="DeepSpeed config file (passed to the Trainer)")
    fsdp: str = Field("", description="FSDP options (passed to the Trainer), e.g. 'full_shard auto_wrap'")
    report_to: str = Field("none", description="experiment tracker of the Trainer (none, tensorboard, ...)")
    max_pixels: int | None = Field(
        None, description="dynamic-resolution VLMs: downscale images above this many pixels"
    )
    gradient_checkpointing: bool = Field(
        False, description="recompute activations in the backward pass: less memory, slower"
    )
    freeze_vision_tower: bool = Field(
        True,
        description="keep the vision tower's pretrained weights fixed (the text side and the cross-attention "
        "train), as LLaMA-Factory's freeze_vision_tower: on a small labeled set fine-tuning the tower "
        "overfits it (docs/benchmarks.md (l))",
    )
    lora: bool = Field(
        False, description="train a LoRA adapter (peft) instead of all weights; the merged model is saved"
    )
    lora_rank: int = Field(16, ge=1, description="LoRA rank")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling alpha")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout")
    lora_targets: list[str] | None = Field(
        None, description="LoRA module name suffixes (default: the model family's)"
    )
