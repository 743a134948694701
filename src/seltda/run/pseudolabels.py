"""The pseudo-labeling artifacts: each shard's stats, `manifest.json` and what `pseudolabel()` returns.

Written and read through these models; the JSON on disk keeps its keys and their order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from seltda.core.fileio import atomic_write_json, read_json


class PseudoLabelFolder:
    """The files of a pseudo-label folder: the kept records, the rejected samples, the manifest and the
    shards (a shard is complete once its stats JSON exists; it is written after its records)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def records(self) -> Path:
        return self.root / "pseudolabels.jsonl"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected.jsonl"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def shards(self) -> Path:
        return self.root / "shards"

    def shard(self, index: int) -> tuple[Path, Path]:
        """A shard's records and its stats (the completion marker)."""
        base = self.shards / f"shard-{index:05d}"
        return base.with_suffix(".jsonl"), base.with_suffix(".json")

    def shard_rejected(self, index: int) -> Path:
        return self.shards / f"shard-{index:05d}.rejected.jsonl"


class ShardWriter(BaseModel):
    """Who wrote a shard: its job's task (`task_index` of `num_tasks`; `tasks_from`: given, slurm,
    given+slurm or single), its process's rank among those launched together, the Slurm array task
    (`JOBID_TASKID`) and the host."""

    num_tasks: int
    task_index: int
    tasks_from: str
    rank: int = 0
    ranks: int = 1
    slurm_array: str | None = None
    host: str | None = None


class WriterShards(ShardWriter):
    """One writer and the shards it wrote (the manifest's `writers`)."""

    shards: list[int]


class PrecisionChoice(BaseModel):
    """The inference dtype and why: `explicit` (asked for), `gpu` (bf16 where the GPU supports it, else
    fp16), `probed` (a CPU's timed probe of fp32 and bf16 on the model at hand) or `cached` (an earlier
    probe with the same key; its timings are that probe's). `key`: what the probe's result depends on."""

    requested: str
    dtype: str
    reason: Literal["explicit", "gpu", "probed", "cached"]
    why: str
    fp32_seconds: list[float] | None = None
    bf16_seconds: list[float] | None = None
    bf16_speedup: float | None = None  # median fp32 time / median bf16 time
    key: dict[str, Any] | None = None


class ShardStats(BaseModel):
    """One shard's counts (`shards/shard-NNNNN.json`); written last, it marks the shard complete."""

    model_config = ConfigDict(extra="ignore")

    shard: int
    images: int
    unreadable: dict[str, int]
    generated: int
    drops: dict[str, int]
    records: int
    roundtrip_model: str | None = None
    dtype: str = "unrecorded"  # shards written before the sampling dtype was recorded
    engine: str = "unrecorded"  # which engine sampled (hf, vllm); shards written before it was recorded
    writer: ShardWriter | None = None  # shards written before writers were recorded
    precision: PrecisionChoice | None = None  # shards written before the choice was recorded

    def write(self, path: Path) -> Path:
        return atomic_write_json(path, self.model_dump(mode="json"))

    @classmethod
    def read(cls, path: Path) -> ShardStats:
        return cls.model_validate(read_json(path))


class ImageCounts(BaseModel):
    """The pool's images: found (listed), refused with their reason, and seen by the teacher."""

    listed: int
    unreadable: dict[str, int]
    seen: int


RUN_KEYS = ("teacher", "image_root", "shards", "seconds_this_run")


class Manifest(BaseModel):
    """`manifest.json`: the run (absent for a bare re-merge), the config, the images and the filter funnel."""

    model_config = ConfigDict(extra="allow")

    teacher: str | None = None
    image_root: str | None = None
    shards: int | None = None
    seconds_this_run: float | None = None
    config: dict[str, Any]
    images: ImageCounts
    funnel: dict[str, int]
    drops: dict[str, int]
    sampling_dtypes: list[str]
    sampling_engines: list[str] = Field(default_factory=list)  # the shards' engines (hf, vllm)
    questions_per_image: float
    env: dict[str, Any]
    writers: list[WriterShards] = Field(default_factory=list)  # by writer; unrecorded shards left out
    precision: list[PrecisionChoice] = Field(default_factory=list)  # each distinct choice the shards made

    def to_json(self) -> dict[str, Any]:
        """The file's content: the run keys only when known, then the rest in field order."""
        return self.model_dump(mode="json", exclude={k for k in RUN_KEYS if getattr(self, k) is None})

    def write(self, path: Path) -> Path:
        return atomic_write_json(path, self.to_json())

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls.model_validate(read_json(path))


class PseudoLabelOutcome(BaseModel):
    """What one `pseudolabel()` call did: merged everything (with its manifest), finished this task's
    shards while others are pending, or finished this rank's shards (rank 0 merges)."""

    status: Literal["merged", "shards_done", "rank_done"]
    shards: int
    manifest: Manifest | None = None
