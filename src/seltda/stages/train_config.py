"""Optimisation settings shared by the teacher, the student and pretraining.

Each default is written here once; the command line's options and their help are generated from these
fields (`seltda.cli.options`), and `stages.train.training_arguments` maps them onto `TrainingArguments`.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field

# `learning_rate` unset: what the model's size asks for. Small models (the embedded tiny BLIP, ~1.6M
# parameters, pretrained at 1e-3) fine-tune best at 3e-4 (docs/benchmarks.md (q): every model of the 2%
# curve scores higher than at 1e-3, the baseline by +1.6 points over 5 seeds); a pretrained VLM fine-tuned in
# full takes BLIP's and LLaVA's fine-tuning rate, whereas a small model's rate would wreck its weights in a
# few steps; LoRA adapters take peft's and TRL's usual 2e-4.
SMALL_MODEL_PARAMETERS = 50_000_000
SMALL_MODEL_RATE = 3e-4
FULL_FINETUNE_RATE = 2e-5
LORA_RATE = 2e-4


def default_learning_rate(parameters: int, lora: bool) -> float:
    """The peak learning rate for a model of `parameters` parameters when the config leaves it unset."""
    if parameters < SMALL_MODEL_PARAMETERS:
        return SMALL_MODEL_RATE
    return LORA_RATE if lora else FULL_FINETUNE_RATE


class TrainingConfig(BaseModel):
    """Optimisation settings shared by the teacher and the student."""

    model_config = ConfigDict(extra="forbid")

    max_steps: int = Field(600, ge=1, description="optimizer steps")
    batch_size: int = Field(64, ge=1, description="examples per device per step")
    learning_rate: float | None = Field(
        None,
        gt=0,
        description="peak learning rate; unset: 3e-4 for models under 50M parameters (the embedded tiny "
        "BLIP), 2e-5 for larger ones fine-tuned in full, 2e-4 with LoRA (recorded as chosen)",
    )
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

    def with_learning_rate(self, parameters: int) -> Self:
        """This config with its learning rate set: as given, else `default_learning_rate` for the model."""
        if self.learning_rate is not None:
            return self
        return self.model_copy(update={"learning_rate": default_learning_rate(parameters, self.lora)})
