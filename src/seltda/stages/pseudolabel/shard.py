"""One shard of the pool: sample each image's pairs with the teacher, run the shard filters (parse,
answer checks, dedupe), add the round-trip model's answers, and write the shard atomically."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seltda.core.jsonl import write_jsonl
from seltda.core.records import Provenance, Record, write_records
from seltda.models import ModelAdapter, load_adapter, load_vqa
from seltda.models.vllm_llm import VllmAnswerer
from seltda.qa_text import parse_generation
from seltda.run.pseudolabels import PrecisionChoice, PseudoLabelFolder, ShardStats, ShardWriter
from seltda.stages.pseudolabel.config import PseudoLabelConfig
from seltda.stages.pseudolabel.engines import Engine
from seltda.stages.pseudolabel.filters import Filter, Sample, build_filters, rejection_row
from seltda.stages.pseudolabel.pool import decoding_workers, image_batches, size_ordered


def synthetic_id(image: str, sample_index: int) -> str:
    """Stable question id from the image path and the sample index."""
    return f"syn-{hashlib.sha1(image.encode()).hexdigest()[:12]}-{sample_index}"


def shard_paths(out_dir: Path, index: int) -> tuple[Path, Path]:
    """A shard's records and its stats; the stats file is written last and marks the shard complete."""
    return PseudoLabelFolder(out_dir).shard(index)


def rejected_path(out_dir: Path, index: int) -> Path:
    return PseudoLabelFolder(out_dir).shard_rejected(index)


def label_image(
    image: str,
    samples: list[tuple[str, float]],
    cfg: PseudoLabelConfig,
    teacher: str,
    filters: list[Filter] | None = None,
) -> tuple[list[Record], list[dict[str, Any]]]:
    """Parse one image's samples and run the shard filters (the most confident copy of a question wins).

    Returns the kept records and the rejected samples with their reason, in the order they were met.
    """
    kept = [Sample(image, i, text, score, parse_generation(text)) for i, (text, score) in enumerate(samples)]
    drops = []
    for check in build_filters(cfg, "shard") if filters is None else filters:
        result = check.apply(kept)
        kept, drops = result.kept, drops + result.dropped
    sampling = {"top_p": cfg.top_p, "temperature": cfg.temperature, "seed": cfg.seed}
    records = [
        Record(
            question_id=synthetic_id(image, sample.index),
            image=image,
            question=sample.parsed.question,
            answers=list(sample.parsed.mentions),
            source="synthetic",
            provenance=Provenance(
                teacher=teacher,
                sampling=dict(sampling),
                score=sample.score,
                sample_index=sample.index,
                raw_text=sample.text,
            ),
        )
        for sample in kept
    ]
    return records, [rejection_row(drop) for drop in sorted(drops, key=lambda d: d.at)]


@dataclass
class RoundTrip:
    """A VQA model that answers each generated question: a pair is kept only if both answers agree.
    `model` is a transformers VQA model, or a `VllmAnswerer` (engine `vllm`)."""

    model: Any
    adapter: ModelAdapter
    batch_size: int = 64

    @classmethod
    def load(
        cls,
        name: str,
        device: str,
        dtype: torch.dtype,
        batch_size: int,
        max_pixels: int | None = None,
        engine: str = "hf",
        **vllm_settings: Any,
    ) -> RoundTrip:
        """`vllm_settings` (vLLM's `LLM` arguments) apply to the vllm engine only."""
        if engine == "vllm":
            answerer = VllmAnswerer.load(name, max_pixels, dtype=dtype, **vllm_settings)
            return cls(answerer, answerer.adapter, batch_size)
        model = load_vqa(name).eval().to(device=device, dtype=dtype)
        return cls(model, load_adapter(name, max_pixels=max_pixels), batch_size)

    @torch.inference_mode()
    def answer(self, records: list[Record], pictures: dict[str, Any]) -> list[str]:
        """The model's greedy answer to each record's question about its image."""
        if isinstance(self.model, VllmAnswerer):
            images = self.adapter.prepare_images([pictures[r.image] for r in records])
            return self.model.answer(list(images), [r.question for r in records])
        parameter = next(self.model.parameters())
        answers: list[str] = []
        for start in range(0, len(records), self.batch_size):
            chunk = records[start : start + self.batch_size]
            pixels = self.adapter.prepare_images([pictures[r.image] for r in chunk])
            batch = self.adapter.vqa_batch(pixels.to(parameter.dtype), [r.question for r in chunk])
            answers += self.adapter.answer(self.model, {k: v.to(parameter.device) for k, v in batch.items()})
        return answers


def run_shard(
    index: int,
    images: list[str],
    image_root: Path,
    engine: Engine,
    cfg: PseudoLabelConfig,
    teacher: str,
    out_dir: Path,
    roundtrip: RoundTrip | None = None,
    writer: ShardWriter | None = None,
    precision: PrecisionChoice | None = None,
) -> ShardStats:
    """Label one shard and write it atomically: records first, then its stats (the completion mark,
    with `writer`: which task and process wrote it, and `precision`: how the model's dtype was chosen).
    `engine` draws the samples (`engines.py`)."""
    seed = cfg.seed * 1_000_003 + index
    torch.manual_seed(seed)
    unreadable: Counter[str] = Counter()
    records: list[Record] = []
    rejected: list[dict[str, Any]] = []
    generated = 0
    filters = build_filters(cfg, "shard")
    if engine.adapter.image_tokens_vary:
        images = size_ordered(images, image_root)
    for batch in image_batches(images, image_root, engine.prepare, cfg.batch_size, decoding_workers(cfg)):
        unreadable.update(batch["skips"])
        if not batch["names"]:
            continue
        samples = engine.sample(batch["names"], batch["inputs"], cfg, seed)
        batch_records: list[Record] = []
        for name, image_samples in zip(batch["names"], samples, strict=True):
            generated += len(image_samples)
            kept, dropped = label_image(name, image_samples, cfg, teacher, filters)
            batch_records.extend(kept)
            rejected.extend(dropped)
        if roundtrip is not None and batch_records:
            pictures = dict(zip(batch["names"], batch["pictures"], strict=True))
            for record, answer in zip(batch_records, roundtrip.answer(batch_records, pictures), strict=True):
                record.provenance.roundtrip_answer = answer
        records.extend(batch_records)
    stats = ShardStats(
        shard=index,
        images=len(images),
        unreadable=dict(unreadable),
        generated=generated,
        drops=dict(Counter(r["reason"] for r in rejected)),
        records=len(records),
        roundtrip_model=cfg.roundtrip_model,
        dtype=engine.dtype,
        engine=engine.name,
        writer=writer,
        precision=precision,
    )
    records_path, stats_path = shard_paths(out_dir, index)
    write_records(records_path, records)
    write_jsonl(rejected_path(out_dir, index), rejected)
    stats.write(stats_path)
    return stats
