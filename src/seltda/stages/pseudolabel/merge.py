"""Merge finished shards into `pseudolabels.jsonl`, `rejected.jsonl` and `manifest.json`: the merge filters
run over the whole pool, and the funnel (generated -> each filter's stage -> kept) comes from the filters."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from seltda.core.fileio import SeltdaInputError, environment_info
from seltda.core.jsonl import read_jsonl, write_jsonl
from seltda.core.records import Record, read_records, write_records
from seltda.run.pseudolabels import (
    ImageCounts,
    Manifest,
    PrecisionChoice,
    PseudoLabelFolder,
    ShardStats,
    WriterShards,
)
from seltda.stages.pseudolabel.config import PseudoLabelConfig
from seltda.stages.pseudolabel.filters import build_filters, filter_classes, funnel_stages, rejection_row
from seltda.stages.pseudolabel.shard import rejected_path, shard_paths


def _shard_stats(shards_from: Path, index: int, cfg: PseudoLabelConfig) -> ShardStats:
    stats_path = shard_paths(shards_from, index)[1]
    stats = ShardStats.read(stats_path)
    if cfg.roundtrip_model and stats.roundtrip_model != cfg.roundtrip_model:
        raise SeltdaInputError(
            f"{stats_path}: this shard was labeled without the round-trip model {cfg.roundtrip_model}; "
            "delete the shards folder to relabel with it, or merge without the round-trip filter"
        )
    return stats


def merge(
    out_dir: Path,
    shard_count: int,
    cfg: PseudoLabelConfig,
    run: dict[str, Any] | None = None,
    scan_skips: dict[str, int] | None = None,
    shards_from: Path | None = None,
) -> Manifest:
    """Merge finished shards (of `shards_from`, default `out_dir`) into `pseudolabels.jsonl` and
    `manifest.json`. Filters can be changed and the merge rerun without sampling again.

    `run`: the manifest's run keys (teacher, image_root, shards, seconds_this_run); `scan_skips`: images
    refused while listing the pool.
    """
    out_dir = Path(out_dir)
    shards_from = Path(shards_from or out_dir)
    records: list[Record] = []
    rejected: list[dict[str, Any]] = []
    unreadable: Counter[str] = Counter(scan_skips or {})
    drops: Counter[str] = Counter()
    generated = 0
    images = sum(unreadable.values())  # found (listed) = in the shards + refused while listing
    dtypes: set[str] = set()
    engines: set[str] = set()
    writers: dict[str, WriterShards] = {}  # which task and process wrote which shards
    precision: dict[str, PrecisionChoice] = {}  # each distinct dtype choice, in the order met
    for index in range(shard_count):
        stats = _shard_stats(shards_from, index, cfg)
        images += stats.images
        dtypes.add(stats.dtype)
        engines.add(stats.engine)
        if stats.writer is not None:
            key = stats.writer.model_dump_json()
            writers.setdefault(key, WriterShards(**stats.writer.model_dump(), shards=[])).shards.append(index)
        if stats.precision is not None:
            precision.setdefault(stats.precision.model_dump_json(), stats.precision)
        generated += stats.generated
        unreadable.update(stats.unreadable)
        drops.update(stats.drops)
        records.extend(read_records(shard_paths(shards_from, index)[0]))
        # shards written before rejections were recorded have no file
        rejected.extend(read_jsonl(rejected_path(shards_from, index), missing_ok=True))

    counts = [generated]
    for cls in filter_classes("shard"):  # what the shards dropped, stage by stage
        counts.append(counts[-1] - sum(drops[reason] for reason in cls.reasons))
    kept = records
    for check in build_filters(cfg, "merge"):
        result = check.apply(kept)
        kept = result.kept
        rejected.extend(rejection_row(drop) for drop in result.dropped)
        drops.update({reason: n for reason, n in check.counts.items() if n})
        counts.append(len(kept))

    seen = images - sum(unreadable.values())
    manifest = Manifest(
        **(run or {}),
        config=cfg.model_dump(mode="json"),
        images=ImageCounts(listed=images, unreadable=dict(unreadable), seen=seen),
        funnel=dict(zip(funnel_stages(), counts, strict=True)),
        drops=dict(drops),
        sampling_dtypes=sorted(dtypes),
        sampling_engines=sorted(engines),
        questions_per_image=round(len(kept) / max(1, seen), 3),
        env=environment_info(),
        writers=list(writers.values()),
        precision=list(precision.values()),
    )
    folder = PseudoLabelFolder(out_dir)
    write_records(folder.records, kept)
    write_jsonl(folder.rejected, rejected)
    manifest.write(folder.manifest)
    return manifest
