"""SelTDA step 2: the teacher writes question-answer pairs for unlabeled images.

Images are processed in shards of a stable order; each finished shard is written atomically and skipped
on a rerun, so a killed run resumes without loss or duplicates. Each image is encoded once per batch and
the N samples come from `num_return_sequences`. Outputs are parsed and filtered; `manifest.json` reports
the funnel (generated -> parsed -> each filter -> kept).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from seltda.core.fileio import SeltdaInputError, atomic_write_json, atomic_write_text, environment_info
from seltda.core.images import header_pixels, scan_images, try_load_image
from seltda.core.progress import track
from seltda.core.records import (
    Provenance,
    Record,
    UnsafePathError,
    read_image_list,
    read_records,
    resolve_image_path,
    write_records,
)
from seltda.eval.metrics import normalize_answer
from seltda.formats.hf_dataset import export_dataset_images, is_saved_dataset
from seltda.models import ModelAdapter, load_adapter, load_vqa, load_vqg
from seltda.qa_text import ParsedQA, parse_generation
from seltda.stages.pseudolabel.config import PseudoLabelConfig

FUNNEL = ["generated", "parsed", "answer_ok", "deduplicated", "consistent", "confident", "kept"]


def synthetic_id(image: str, sample_index: int) -> str:
    """Stable question id from the image path and the sample index."""
    return f"syn-{hashlib.sha1(image.encode()).hexdigest()[:12]}-{sample_index}"


def answer_problem(parsed: ParsedQA, max_words: int) -> str | None:
    """Why a parsed pair's answers are unusable, or None."""
    normalized = {normalize_answer(a) for a in parsed.answers}
    if not normalized or "" in normalized:
        return "empty_answer"
    if {"yes", "no"} <= normalized:
        return "contradictory_yes_no"
    if any(len(a.split()) > max_words for a in parsed.answers):
        return "answer_too_long"
    return None


def rejection(image: str, index: int, text: str, score: float, reason: str) -> dict[str, Any]:
    """A dropped sample, kept for the report's gallery and for auditing filters."""
    return {"image": image, "sample_index": index, "raw_text": text, "score": score, "reason": reason}


def label_image(
    image: str, samples: list[tuple[str, float]], cfg: PseudoLabelConfig, teacher: str
) -> tuple[list[Record], list[dict[str, Any]]]:
    """Parse, check and dedupe one image's samples (the most confident copy of a question wins).

    Returns the kept records and the rejected samples with their reason.
    """
    best: dict[str, Record] = {}
    rejected: list[dict[str, Any]] = []
    for index, (text, score) in enumerate(samples):
        parsed = parse_generation(text)
        problem = "unparseable" if parsed is None else answer_problem(parsed, cfg.max_answer_words)
        if problem:
            rejected.append(rejection(image, index, text, score, problem))
            continue
        key = normalize_answer(parsed.question)
        record = Record(
            question_id=synthetic_id(image, index),
            image=image,
            question=parsed.question,
            answers=list(parsed.mentions),
            source="synthetic",
            provenance=Provenance(
                teacher=teacher,
                sampling={"top_p": cfg.top_p, "temperature": cfg.temperature, "seed": cfg.seed},
                score=score,
                sample_index=index,
                raw_text=text,
            ),
        )
        previous = best.get(key)
        if previous is not None:
            loser = record if score <= previous.provenance.score else previous
            rejected.append(
                rejection(
                    image,
                    loser.provenance.sample_index,
                    loser.provenance.raw_text,
                    loser.provenance.score,
                    "duplicate_question",
                )
            )
            if loser is record:
                continue
        best[key] = record
    return sorted(best.values(), key=lambda r: r.provenance.sample_index), rejected


def _shard_paths(out_dir: Path, index: int) -> tuple[Path, Path]:
    """A shard's records and its stats; the stats file is written last and marks the shard complete."""
    base = out_dir / "shards" / f"shard-{index:05d}"
    return base.with_suffix(".jsonl"), base.with_suffix(".json")


def _rejected_path(out_dir: Path, index: int) -> Path:
    return out_dir / "shards" / f"shard-{index:05d}.rejected.jsonl"


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():  # shards written before rejections were recorded
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class PoolImages(Dataset):
    """The images of one shard, decoded (in DataLoader workers when asked); bad ones carry their reason."""

    def __init__(self, names: list[str], image_root: Path) -> None:
        self.names = names
        self.image_root = image_root

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> tuple[str, Any, str | None]:
        name = self.names[index]
        try:
            picture, reason = try_load_image(resolve_image_path(self.image_root, name))
        except UnsafePathError:
            picture, reason = None, "outside_root"
        return name, picture, reason


def size_ordered(names: list[str], image_root: Path) -> list[str]:
    """The images from the fewest pixels to the most (header sizes; unreadable and unsafe ones last, to
    be skipped and reported when loaded), so that a batch of a dynamic-resolution VLM pads little."""

    def pixels(name: str) -> float:
        try:
            count = header_pixels(resolve_image_path(image_root, name))
        except UnsafePathError:
            count = None
        return float("inf") if count is None else count

    return sorted(names, key=lambda name: (pixels(name), name))


def image_batches(
    names: list[str], image_root: Path, adapter: ModelAdapter, batch_size: int, workers: int
) -> DataLoader:
    """Batches of (names, pictures, sampling inputs, skip reasons); decoding and the adapter's loader-side
    preprocessing (`sampling_inputs`) run in `workers` processes, prefetched while the model generates.
    No batch is dropped."""

    def collate(items: list[tuple[str, Any, str | None]]) -> dict[str, Any]:
        good = [(name, picture) for name, picture, _ in items if picture is not None]
        return {
            "names": [name for name, _ in good],
            "pictures": [picture for _, picture in good],
            "inputs": adapter.sampling_inputs([p for _, p in good]) if good else None,
            "skips": [reason or "unreadable" for _, picture, reason in items if picture is None],
        }

    extra = {"prefetch_factor": 2, "persistent_workers": False} if workers > 0 else {}
    return DataLoader(
        PoolImages(names, image_root),
        batch_size=batch_size,
        shuffle=False,
        drop_last=False,
        num_workers=workers,
        collate_fn=collate,
        **extra,
    )


def cpu_has_native_bf16() -> bool:
    """The CPU computes bf16 matrix products natively (AVX512-BF16 or AMX), so bf16 is faster than fp32."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def inference_dtype(precision: str) -> torch.dtype:
    """The sampling dtype. `auto`: bf16 on a GPU that supports it (else fp16) and on a CPU with native bf16
    (1.5x the fp32 rate on this project's CPU, docs/benchmarks.md), fp32 on other CPUs."""
    if precision != "auto":
        if precision == "fp16" and not torch.cuda.is_available():
            return torch.float32  # fp16 matrix products are slow and lossy on CPUs
        return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32


@dataclass
class RoundTrip:
    """A VQA model that answers each generated question: a pair is kept only if both answers agree."""

    model: Any
    adapter: ModelAdapter
    batch_size: int = 64

    @classmethod
    def load(
        cls, name: str, device: str, dtype: torch.dtype, batch_size: int, max_pixels: int | None = None
    ) -> RoundTrip:
        model = load_vqa(name).eval().to(device=device, dtype=dtype)
        return cls(model, load_adapter(name, max_pixels=max_pixels), batch_size)

    @torch.inference_mode()
    def answer(self, records: list[Record], pictures: dict[str, Any]) -> list[str]:
        """The model's greedy answer to each record's question about its image."""
        parameter = next(self.model.parameters())
        answers: list[str] = []
        for start in range(0, len(records), self.batch_size):
            chunk = records[start : start + self.batch_size]
            pixels = self.adapter.pixel_values([pictures[r.image] for r in chunk])
            batch = self.adapter.vqa_batch(pixels.to(parameter.dtype), [r.question for r in chunk])
            answers += self.adapter.answer(self.model, {k: v.to(parameter.device) for k, v in batch.items()})
        return answers


def agrees(record: Record) -> bool:
    """The round-trip answer matches the teacher's (majority) answer after VQA normalization."""
    answer = record.provenance.roundtrip_answer
    return answer is not None and normalize_answer(answer) == normalize_answer(record.majority_answer())


def run_shard(
    index: int,
    images: list[str],
    image_root: Path,
    model: Any,
    adapter: ModelAdapter,
    cfg: PseudoLabelConfig,
    teacher: str,
    out_dir: Path,
    roundtrip: RoundTrip | None = None,
) -> dict:
    """Label one shard and write it atomically: records first, then its stats (the completion mark)."""
    torch.manual_seed(cfg.seed * 1_000_003 + index)
    unreadable: Counter[str] = Counter()
    records: list[Record] = []
    rejected: list[dict[str, Any]] = []
    generated = 0
    parameter = next(model.parameters())
    if adapter.image_tokens_vary:
        images = size_ordered(images, image_root)
    for batch in image_batches(images, image_root, adapter, cfg.batch_size, _workers(cfg)):
        unreadable.update(batch["skips"])
        if not batch["names"]:
            continue
        samples = adapter.sample_questions(
            model,
            adapter.sampling_inputs_on(batch["inputs"], parameter.device, parameter.dtype),
            cfg.per_image,
            top_p=cfg.top_p,
            temperature=cfg.temperature,
            repetition_penalty=cfg.repetition_penalty,
            min_new_tokens=cfg.min_new_tokens,
        )
        batch_records: list[Record] = []
        for name, image_samples in zip(batch["names"], samples, strict=True):
            generated += len(image_samples)
            kept, dropped = label_image(name, image_samples, cfg, teacher)
            batch_records.extend(kept)
            rejected.extend(dropped)
        if roundtrip is not None and batch_records:
            pictures = dict(zip(batch["names"], batch["pictures"], strict=True))
            for record, answer in zip(batch_records, roundtrip.answer(batch_records, pictures), strict=True):
                record.provenance.roundtrip_answer = answer
        records.extend(batch_records)
    stats = {
        "shard": index,
        "images": len(images),
        "unreadable": dict(unreadable),
        "generated": generated,
        "drops": dict(Counter(r["reason"] for r in rejected)),
        "records": len(records),
        "roundtrip_model": cfg.roundtrip_model,
        "dtype": str(parameter.dtype).removeprefix("torch."),
    }
    records_path, stats_path = _shard_paths(out_dir, index)
    write_records(records_path, records)
    _write_jsonl(_rejected_path(out_dir, index), rejected)
    atomic_write_json(stats_path, stats)
    return stats


def _workers(cfg: PseudoLabelConfig) -> int:
    """Image-decoding processes: none on a CPU (they compete with the model), half the cores (at most 8)
    beside a GPU, which outruns one process's decoding and resizing."""
    if cfg.dataloader_workers is not None:
        return cfg.dataloader_workers
    return min(8, max(1, (os.cpu_count() or 2) // 2)) if torch.cuda.is_available() else 0


def list_images(image_root: Path, image_list: Path | None) -> tuple[list[str], dict[str, int]]:
    """The pool in a stable order: the images of a records file (`.jsonl`/`.json`), of a list file (one
    path per line), both relative to the root, or a recursive scan of the root."""
    if image_list is None:
        return scan_images(image_root)
    if Path(image_list).suffix.lower() in (".jsonl", ".json"):
        return sorted({record.image for record in read_records(image_list)}), {}
    return sorted(set(read_image_list(image_list))), {}


def confident(records: list[Record], cfg: PseudoLabelConfig) -> list[Record]:
    """Apply the global confidence filters (absolute threshold, then top fraction by score)."""
    if cfg.min_score is not None:
        records = [r for r in records if r.provenance.score >= cfg.min_score]
    if cfg.keep_top_fraction is not None and records:
        count = max(1, round(cfg.keep_top_fraction * len(records)))
        ranked = sorted(records, key=lambda r: -r.provenance.score)[:count]
        keep = {r.question_id for r in ranked}
        records = [r for r in records if r.question_id in keep]
    return records


def is_yes_no(record: Record) -> bool:
    return {normalize_answer(a) for a in record.answers} <= {"yes", "no"}


def rebalance(records: list[Record], max_yes_no_share: float | None) -> list[Record]:
    """Cap the share of yes/no pairs (the most confident kept): teachers over-produce them."""
    if max_yes_no_share is None:
        return records
    yes_no = [r for r in records if is_yes_no(r)]
    others = len(records) - len(yes_no)
    if max_yes_no_share >= 1:
        return records
    allowed = int(max_yes_no_share * others / (1 - max_yes_no_share))
    keep = {r.question_id for r in sorted(yes_no, key=lambda r: -r.provenance.score)[:allowed]}
    return [r for r in records if not is_yes_no(r) or r.question_id in keep]


def _dropped(records: list[Record], kept: list[Record], reason: str) -> list[dict[str, Any]]:
    kept_ids = {r.question_id for r in kept}
    return [
        rejection(r.image, r.provenance.sample_index, r.provenance.raw_text, r.provenance.score, reason)
        for r in records
        if r.question_id not in kept_ids
    ]


def merge(
    out_dir: Path, shard_count: int, cfg: PseudoLabelConfig, extra: dict, shards_from: Path | None = None
) -> dict:
    """Merge finished shards (of `shards_from`, default `out_dir`) into `pseudolabels.jsonl` and
    `manifest.json` (the funnel). Filters can be changed and the merge rerun without sampling again."""
    shards_from = shards_from or out_dir
    records: list[Record] = []
    rejected: list[dict[str, Any]] = []
    unreadable: Counter[str] = Counter(extra.pop("scan_skips", {}))  # met while listing the pool
    drops: Counter[str] = Counter()
    generated = 0
    images = sum(unreadable.values())  # found (listed) = in the shards + refused while listing
    dtypes: set[str] = set()
    for index in range(shard_count):
        records_path, stats_path = _shard_paths(shards_from, index)
        stats = json.loads(stats_path.read_text())
        if cfg.roundtrip_model and stats.get("roundtrip_model") != cfg.roundtrip_model:
            raise SeltdaInputError(
                f"{stats_path}: this shard was labeled without the round-trip model {cfg.roundtrip_model}; "
                "delete the shards folder to relabel with it, or merge without the round-trip filter"
            )
        images += stats["images"]
        dtypes.add(stats.get("dtype", "unrecorded"))
        generated += stats["generated"]
        unreadable.update(stats["unreadable"])
        drops.update(stats["drops"])
        records.extend(read_records(records_path))
        rejected.extend(_read_jsonl(_rejected_path(shards_from, index)))
    consistent = [r for r in records if agrees(r)] if cfg.roundtrip_model else records
    sure = confident(consistent, cfg)
    kept = rebalance(sure, cfg.max_yes_no_share)
    stages = ((records, consistent, "roundtrip_disagrees"), (consistent, sure, "low_confidence"))
    for before, after, reason in (*stages, (sure, kept, "yes_no_cap")):
        rejected.extend(_dropped(before, after, reason))
        if len(before) > len(after):
            drops[reason] = len(before) - len(after)
    parsed = generated - drops["unparseable"]
    answer_ok = parsed - sum(
        v
        for k, v in drops.items()
        if k
        not in ("unparseable", "duplicate_question", "roundtrip_disagrees", "low_confidence", "yes_no_cap")
    )
    manifest = {
        **extra,
        "config": cfg.model_dump(mode="json"),
        "images": {
            "listed": images,
            "unreadable": dict(unreadable),
            "seen": images - sum(unreadable.values()),
        },
        "funnel": dict(
            zip(
                FUNNEL,
                [generated, parsed, answer_ok, len(records), len(consistent), len(sure), len(kept)],
                strict=True,
            )
        ),
        "drops": dict(drops),
        "sampling_dtypes": sorted(dtypes),
        "questions_per_image": round(len(kept) / max(1, images - sum(unreadable.values())), 3),
        "env": environment_info(),
    }
    write_records(out_dir / "pseudolabels.jsonl", kept)
    _write_jsonl(out_dir / "rejected.jsonl", rejected)
    atomic_write_json(out_dir / "manifest.json", manifest)
    return manifest


def launcher_tasks(cfg: PseudoLabelConfig) -> PseudoLabelConfig:
    """Under `torchrun`/`accelerate launch` (WORLD_SIZE > 1) each process takes its own shards."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if cfg.num_tasks == 1 and world > 1:
        return cfg.model_copy(update={"num_tasks": world, "task_index": int(os.environ.get("RANK", "0"))})
    return cfg


def _launched_together() -> bool:
    """Started by torchrun/accelerate launch (a rendezvous address and several processes)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "MASTER_ADDR" in os.environ


def _wait_for_all_ranks() -> bool:
    """Barrier over the launched processes (gloo, no GPU needed); True on rank 0, which then merges."""
    import datetime

    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo", timeout=datetime.timedelta(hours=12))
    dist.barrier()
    return dist.get_rank() == 0


def pseudolabel(
    teacher_dir: str,
    image_root: Path,
    out_dir: Path,
    cfg: PseudoLabelConfig | None = None,
    image_list: Path | None = None,
) -> dict:
    """Label the pool with the teacher; resumable shard by shard. Returns the manifest."""
    cfg = launcher_tasks(cfg or PseudoLabelConfig())
    out_dir = Path(out_dir)
    start = time.perf_counter()
    if is_saved_dataset(image_root):  # a `datasets` folder: its images become files once
        images, scan_skips = export_dataset_images(
            image_root, out_dir / "images", image_column=cfg.image_column
        )
        image_root = out_dir / "images"
    else:
        images, scan_skips = list_images(Path(image_root), image_list)
    shards = [images[i : i + cfg.shard_size] for i in range(0, len(images), cfg.shard_size)]
    todo = [
        i
        for i in range(len(shards))
        if i % cfg.num_tasks == cfg.task_index and not _shard_paths(out_dir, i)[1].exists()
    ]
    if todo:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = inference_dtype(cfg.precision)
        adapter = load_adapter(teacher_dir, max_pixels=cfg.max_pixels, max_target_tokens=cfg.max_new_tokens)
        model = load_vqg(teacher_dir).eval().to(device=device, dtype=dtype)
        roundtrip = None
        if cfg.roundtrip_model:
            roundtrip = RoundTrip.load(
                cfg.roundtrip_model, device, dtype, cfg.roundtrip_batch_size, cfg.max_pixels
            )
        for index in track(todo, description="pseudo-labeling shards"):
            run_shard(
                index,
                shards[index],
                Path(image_root),
                model,
                adapter,
                cfg,
                str(teacher_dir),
                out_dir,
                roundtrip,
            )
    if _launched_together() and not _wait_for_all_ranks():  # torchrun: rank 0 merges once all are done
        return {"complete": False, "shards": len(shards), "merged_by_rank": 0}
    if not all(_shard_paths(out_dir, i)[1].exists() for i in range(len(shards))):
        return {"complete": False, "shards": len(shards)}
    extra = {
        "teacher": str(teacher_dir),
        "image_root": str(image_root),
        "shards": len(shards),
        "scan_skips": scan_skips,
        "seconds_this_run": round(time.perf_counter() - start, 2),
    }
    return merge(out_dir, len(shards), cfg, extra)
