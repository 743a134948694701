"""The SelTDA student: fine-tune the original VLM for VQA on real records augmented with pseudo-labels.

Answers are soft targets: each distinct annotator answer is weighted by its share, as in BLIP's VQA
fine-tuning. The baseline is the same function without synthetic records.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path

from transformers import TrainerCallback

from seltda.core.records import Record, read_records
from seltda.models import load_adapter, load_vqa
from seltda.run.stage import read_stage, stage_complete
from seltda.stages.augment import StudentNoise
from seltda.stages.image_records import RecordFiles, record_files
from seltda.stages.student_config import StudentConfig
from seltda.stages.train import fit_stage


def mix(real: Sequence[Record], synthetic: Sequence[Record], ratio: float, seed: int) -> list[Record]:
    """A seeded sample of `ratio * len(real)` synthetic records (all of them if fewer exist)."""
    if ratio <= 0 or not synthetic:
        return []
    count = min(len(synthetic), round(ratio * len(real)))
    return random.Random(seed).sample(list(synthetic), count)


def soft_targets(record: Record, max_answers: int) -> tuple[list[str], list[float]]:
    """Distinct answers by share (top `max_answers`, renormalised)."""
    weights = list(record.answer_weights().items())[:max_answers]
    total = sum(w for _, w in weights)
    return [a for a, _ in weights], [w / total for _, w in weights]


def example_key(record: Record) -> str:
    """What names a training example for its augmentation draws."""
    return f"{record.source}/{record.question_id}/{record.image}"


def train_student(
    train_files: RecordFiles,
    image_root: Path,
    out_dir: Path,
    cfg: StudentConfig,
    synthetic_file: Path | None = None,
    synthetic_image_root: Path | None = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> dict:
    """Fine-tune `cfg.model` for VQA on one or more real records files (+ synthetic records); resumable.
    `callbacks` go to the Trainer beside the stage's own. Returns training metrics."""
    train_files = record_files(train_files)
    out_dir = Path(out_dir)
    if stage_complete(out_dir):
        return read_stage(out_dir)["metrics"]
    start = time.perf_counter()
    real = [r for path in train_files for r in read_records(path)]
    synthetic = mix(
        real, read_records(synthetic_file) if synthetic_file else [], cfg.synthetic_ratio, cfg.seed
    )
    adapter = load_adapter(
        cfg.model,
        max_pixels=cfg.max_pixels,
        max_question_tokens=cfg.max_question_tokens,
        max_answer_tokens=cfg.max_answer_tokens,
    )
    model = load_vqa(cfg.model)
    noise = StudentNoise(model, cfg.dropout, cfg.seed) if cfg.noise else None
    sources = [(real, image_root)]
    if synthetic:
        sources.append((synthetic, synthetic_image_root or image_root))

    def collate(items: list) -> dict:
        targets = [soft_targets(item["record"], cfg.max_answers) for item in items]
        images = [item["pixel_values"] for item in items]
        if noise:  # Noisy Student: a fresh draw per example and epoch
            images = [
                noise.augment_example(item["pixel_values"], example_key(item["record"])) for item in items
            ]
        return adapter.vqa_batch(
            adapter.batch_images(images),
            [item["record"].question for item in items],
            [answers for answers, _ in targets],
            [weights for _, weights in targets],
        )

    def counts(parts: list) -> dict[str, int]:
        return {"real_records": len(parts[0]), "synthetic_records": len(parts[1]) if synthetic else 0}

    return fit_stage(
        out_dir,
        "student" if synthetic else "baseline",
        cfg,
        adapter,
        model,
        sources,
        collate,
        adapter.vqa_loss,
        counts,
        start,
        callbacks=[*callbacks, noise] if noise else list(callbacks),
        train_files=[str(p) for p in train_files],
        synthetic_file=str(synthetic_file) if synthetic_file else None,
    )
