"""Configuration of pseudo-labeling: sampling, sharding and filters."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from seltda.models.vllm_llm import EngineName


class PseudoLabelConfig(BaseModel):
    """How the teacher labels the unlabeled pool."""

    model_config = ConfigDict(extra="forbid")

    engine: EngineName = Field(
        "auto",
        description="sampling engine: hf (transformers), vllm (pip install 'seltda[vllm]'; chat VLMs of "
        "the families in models.vllm_llm.VLLM_FAMILIES), auto: vllm with a GPU when installed and serving "
        "the teacher, else hf",
    )
    per_image: int = Field(3, ge=1, description="question-answer pairs sampled per image")
    top_p: float = Field(0.9, gt=0, le=1, description="nucleus sampling, as in the paper")
    temperature: float = Field(1.0, gt=0, description="sampling temperature")
    repetition_penalty: float = Field(1.0, gt=0, description="penalty on repeated tokens (1: none)")
    min_new_tokens: int = Field(0, ge=0, description="shortest generation in tokens")
    max_new_tokens: int = Field(48, ge=1, description="longest generation in tokens")
    batch_size: int = Field(64, ge=1, description="images per generation batch")
    shard_size: int = Field(512, ge=1, description="images per shard (the unit of resume)")
    seed: int = Field(0, description="sampling seed (shard k samples with its own seed from it)")
    max_answer_words: int = Field(8, ge=1, description="drop pairs with a longer answer")
    min_score: float | None = Field(None, description="drop pairs whose mean token log-prob is lower")
    # defaults: the filter set that measured best on easy-VQA (docs/benchmarks.md); None, None is the
    # paper's plain recipe (every parsed pair kept)
    keep_top_fraction: float | None = Field(0.5, gt=0, le=1, description="keep the most confident share")
    max_yes_no_share: float | None = Field(
        0.25, ge=0, le=1, description="cap the share of yes/no pairs (most confident kept); 0 drops them"
    )
    roundtrip_model: str | None = Field(
        None,
        description="VQA model folder that answers each generated question; a pair is kept only if it "
        "agrees with the teacher's answer (in `seltda run`, 'baseline' means the run's baseline)",
    )
    roundtrip_batch_size: int = Field(64, ge=1, description="questions per batch of the round-trip model")
    dataloader_workers: int | None = Field(
        None, ge=0, description="image-decoding processes (None: GPU, half the cores up to 8; CPU, 0)"
    )
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto",
        description="auto: bf16 on a GPU that supports it, else fp16; on a CPU a cached timed probe of "
        "fp32 and bf16 sampling (bf16 only if >= 1.1x faster); fp16 runs as fp32 on a CPU",
    )
    max_pixels: int | None = Field(None, description="dynamic-resolution VLMs: downscale larger images")
    tensor_parallel_size: int = Field(
        1,
        ge=1,
        description="engine vllm: GPUs one engine spreads the model over (models too large for one GPU)",
    )
    image_column: str = Field("image", description="image column when the pool is a saved `datasets` folder")
    num_tasks: int | None = Field(
        None,
        ge=1,
        description="split shards across this many independent jobs (None: the Slurm array's task count "
        "inside a job array, else 1)",
    )
    task_index: int | None = Field(
        None,
        ge=0,
        description="this job's index in [0, num_tasks) (None: its position in the Slurm array inside a "
        "job array, else 0)",
    )

    @classmethod
    def plain(cls, **kwargs) -> PseudoLabelConfig:
        """The paper's recipe: no confidence filter, no yes/no cap."""
        return cls(**{"keep_top_fraction": None, "max_yes_no_share": None, **kwargs})
