"""The SelTDA teacher: fine-tune a VLM to generate `Question: <q> Answer: <a1>,<a2>,...` from the image.

The target text follows the paper's code; the parser turns a (possibly malformed) generation back into a
question and a weighted answer list.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from seltda.core.records import read_records
from seltda.models import load_adapter, load_vqg
from seltda.qa_text import format_target
from seltda.run.stage import read_stage, stage_complete, write_stage
from seltda.stages.teacher_config import TeacherConfig
from seltda.stages.train import ImageRecords, save_trained, train


def train_teacher(
    train_files: Path | Sequence[Path],
    image_root: Path,
    out_dir: Path,
    cfg: TeacherConfig,
    synthetic_file: Path | None = None,
    synthetic_image_root: Path | None = None,
) -> dict:
    """Fine-tune `cfg.model` as a question+answer generator on one or more records files; resumable.

    `synthetic_file` (pseudo-labels of an earlier round, images under `synthetic_image_root`) is added
    to the real records when a later round's teacher also learns from them.
    """
    train_files = [train_files] if isinstance(train_files, str | Path) else list(train_files)
    out_dir = Path(out_dir)
    if stage_complete(out_dir):
        return read_stage(out_dir)["metrics"]
    start = time.perf_counter()
    records = [r for path in train_files for r in read_records(path)]
    adapter = load_adapter(cfg.model, max_pixels=cfg.max_pixels, max_target_tokens=cfg.max_target_tokens)
    model = load_vqg(cfg.model)
    dataset = ImageRecords(records, image_root, adapter.pixel_values, cache=cfg.cache_images)
    if synthetic_file is not None:
        from torch.utils.data import ConcatDataset

        synthetic = ImageRecords(
            read_records(synthetic_file),
            synthetic_image_root or image_root,
            adapter.pixel_values,
            cache=cfg.cache_images,
        )
        dataset = ConcatDataset([dataset, synthetic])

    def collate(items: list) -> dict:
        items = [item for item in items if item is not None]
        pixels = adapter.stack([item["pixel_values"] for item in items])
        targets = [format_target(item["record"], cfg.answers, cfg.max_answers) for item in items]
        return adapter.vqg_batch(pixels, targets)

    trainer, metrics = train(model, dataset, collate, adapter.vqg_loss, cfg, out_dir)
    save_trained(trainer, adapter.processor, out_dir)
    parts = dataset.datasets if hasattr(dataset, "datasets") else [dataset]
    metrics.update(
        records=len(dataset),
        skipped=dict(sum((part.skipped for part in parts), Counter())),
        seconds=round(time.perf_counter() - start, 2),
    )
    if trainer.is_world_process_zero():
        write_stage(
            out_dir,
            "teacher",
            cfg,
            metrics,
            train_files=[str(p) for p in train_files],
            image_root=str(image_root),
            synthetic_file=str(synthetic_file) if synthetic_file else None,
        )
    trainer.accelerator.wait_for_everyone()  # no rank returns before the stage is marked complete
    return metrics
