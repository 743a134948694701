"""The SelTDA teacher: fine-tune a VLM to generate `Question: <q> Answer: <a1>,<a2>,...` from the image.

The target text follows the paper's code; the parser turns a (possibly malformed) generation back into a
question and a weighted answer list.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from seltda.models import load_adapter, load_vqg
from seltda.records import Record, read_records
from seltda.teacher_config import TeacherConfig
from seltda.training import ImageRecords, read_stage, save_trained, stage_complete, train, write_stage

_QA_PATTERN = re.compile(r"question\s*:\s*(?P<question>.+?)\s*answer\s*:\s*(?P<answers>.*)", re.I | re.S)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([?.!,;:'])")
_SPACE_AFTER_APOSTROPHE = re.compile(r"(\w)'\s+(\w)")


def distinct_answers(answers: list[str]) -> list[str]:
    """Distinct answers, most frequent first (ties: first seen)."""
    counts = Counter(a.strip() for a in answers if a.strip())
    order = {a: i for i, a in reversed(list(enumerate(a.strip() for a in answers)))}
    return sorted(counts, key=lambda a: (-counts[a], order[a]))


def format_target(record: Record, answers: str = "distinct", max_answers: int = 10) -> str:
    """The teacher's target text for one record."""
    chosen = (
        distinct_answers(record.answers) if answers == "distinct" else [a.strip() for a in record.answers]
    )
    answer_text = ",".join(a.replace(",", " ") for a in chosen[:max_answers])
    return f"Question: {record.question.strip()} Answer: {answer_text}"


@dataclass(frozen=True)
class ParsedQA:
    """A question and its answers with weights (share of mentions)."""

    question: str
    answers: list[str]
    weights: list[float]
    mentions: tuple[str, ...] = ()


def _tidy(text: str) -> str:
    """Undo tokenizer spacing: 'what is it ?' -> 'what is it?', "isn ' t" -> "isn't"."""
    text = " ".join(text.split())
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return _SPACE_AFTER_APOSTROPHE.sub(r"\1'\2", text).strip()


def parse_generation(text: str) -> ParsedQA | None:
    """Parse `question: ... answer: a, b` (any case and spacing); None when the text is not usable."""
    match = _QA_PATTERN.search(text)
    if match is None:
        return None
    question = _tidy(match.group("question"))
    raw = [_tidy(a) for a in re.split(r",|\banswer\s*:", match.group("answers"), flags=re.I)]
    mentions = [a for a in raw if a]
    if not question or not mentions or len(question) < 3:
        return None
    counts = Counter(mentions)
    answers = distinct_answers(mentions)
    return ParsedQA(question, answers, [counts[a] / len(mentions) for a in answers], tuple(mentions))


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
