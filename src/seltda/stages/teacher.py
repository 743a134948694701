"""The SelTDA teacher: fine-tune a VLM to generate `Question: <q> Answer: <a1>,<a2>,...` from the image.

The target text follows the paper's code; the parser turns a (possibly malformed) generation back into a
question and a weighted answer list.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from transformers import TrainerCallback

from seltda.core.records import read_records
from seltda.models import load_adapter, load_vqg
from seltda.qa_text import format_target
from seltda.run.stage import read_stage, stage_complete
from seltda.stages.image_records import RecordFiles, record_files
from seltda.stages.teacher_config import TeacherConfig
from seltda.stages.train import fit_stage


def train_teacher(
    train_files: RecordFiles,
    image_root: Path,
    out_dir: Path,
    cfg: TeacherConfig,
    synthetic_file: Path | None = None,
    synthetic_image_root: Path | None = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> dict:
    """Fine-tune `cfg.model` as a question+answer generator on one or more records files; resumable.

    `synthetic_file` (pseudo-labels of an earlier round, images under `synthetic_image_root`) is added
    to the real records when a later round's teacher also learns from them. `callbacks` go to the Trainer.
    """
    train_files = record_files(train_files)
    out_dir = Path(out_dir)
    if stage_complete(out_dir):
        return read_stage(out_dir)["metrics"]
    start = time.perf_counter()
    sources = [([r for path in train_files for r in read_records(path)], image_root)]
    adapter = load_adapter(cfg.model, max_pixels=cfg.max_pixels, max_target_tokens=cfg.max_target_tokens)
    if synthetic_file is not None:
        sources.append((read_records(synthetic_file), synthetic_image_root or image_root))

    def collate(items: list) -> dict:
        pixels = adapter.batch_images([item["pixel_values"] for item in items])
        targets = [format_target(item["record"], cfg.answers, cfg.max_answers) for item in items]
        return adapter.vqg_batch(pixels, targets)

    return fit_stage(
        out_dir,
        "teacher",
        cfg,
        adapter,
        load_vqg(cfg.model),
        sources,
        collate,
        adapter.vqg_loss,
        lambda parts: {"records": sum(len(part) for part in parts)},
        start,
        callbacks=callbacks,
        train_files=[str(p) for p in train_files],
        image_root=str(image_root),
        synthetic_file=str(synthetic_file) if synthetic_file else None,
    )
