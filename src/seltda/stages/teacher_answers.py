"""The teacher's answers to given questions: the diagnostic of what the teacher knows that the baseline
does not (per question type), which tells where its pseudo-labels can help.

The teacher writes `Question: <q> Answer: <a1>,<a2>` from the image alone; to answer a labeled question it
continues `Question: <q> Answer:` greedily (the adapter's `teacher_answer`), and its first answer counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from seltda.core.images import try_load_image
from seltda.core.progress import track
from seltda.core.records import Record, UnsafePathError, resolve_image_path
from seltda.models import load_adapter, load_vqg
from seltda.stages.pseudolabel.precision import PROBE_IMAGES, choose_precision


def _load(image_root: Path, name: str) -> tuple[Any, str | None]:
    """The image, or None and the reason it is skipped."""
    try:
        return try_load_image(resolve_image_path(image_root, name))
    except UnsafePathError:
        return None, "outside_root"


def _batches(records: Sequence[Record], image_root: Path, batch_size: int, skipped: Counter) -> Iterator:
    """(records, their images) per batch of `batch_size` questions, each image decoded once per batch;
    the questions of an unreadable image are left out and counted under its reason."""
    for start in range(0, len(records), batch_size):
        chunk = records[start : start + batch_size]
        images = {name: _load(image_root, name) for name in dict.fromkeys(r.image for r in chunk)}
        kept = []
        for record in chunk:
            picture, reason = images[record.image]
            if picture is None:
                skipped[reason or "unreadable"] += 1
            else:
                kept.append(record)
        yield kept, [images[r.image][0] for r in kept]


def _answering_work(
    adapter: Any, records: Sequence[Record], image_root: Path, max_new_tokens: int
) -> tuple[Any, int] | None:
    """The precision probe's unit of work: answering the first readable `PROBE_IMAGES` questions (the
    same whatever the batch size, so every batch size reuses one cached decision); None when none is."""
    chunk, pictures = next(
        ((c, p) for c, p in _batches(records, image_root, PROBE_IMAGES, Counter()) if c), ([], [])
    )
    if not chunk:
        return None
    pixels, questions = adapter.prepare_images(pictures), [r.question for r in chunk]

    def work(model: torch.nn.Module) -> None:
        parameter = next(model.parameters())
        pixels_on = pixels.to(device=parameter.device, dtype=parameter.dtype)
        adapter.teacher_answer(model, pixels_on, questions, max_new_tokens)

    return work, len(chunk)


def teacher_answers(
    teacher: str,
    records: Sequence[Record],
    image_root: Path,
    batch_size: int = 64,
    max_pixels: int | None = None,
    skipped: Counter | None = None,
    max_new_tokens: int = 16,
    precision: str = "auto",
) -> dict[str, str]:
    """{question_id: the teacher's greedy first answer} for `records` (labeled questions and their images).

    The teacher loads as the pseudo-label stage loads it (its adapter, `load_vqg`, `precision` resolved
    by the same rule: `auto` on a CPU probes fp32 and bf16 on answering a few of these questions).
    Questions whose image cannot be read are left out of the result and counted in `skipped` (by skip
    reason) when given.
    """
    skipped = Counter() if skipped is None else skipped
    device = "cuda" if torch.cuda.is_available() else "cpu"
    adapter = load_adapter(teacher, max_pixels=max_pixels)
    model = load_vqg(teacher).eval().to(device)
    ordered = sorted(records, key=lambda r: r.image)  # an image's questions together: decoded once
    probe = _answering_work(adapter, ordered, Path(image_root), max_new_tokens)
    if probe is not None:  # else nothing will be answered
        workload = {"work": "teacher_answer", "probe_questions": probe[1], "max_new_tokens": max_new_tokens}
        with torch.inference_mode():
            model, _ = choose_precision(precision, model, probe[0], teacher, workload)
    parameter = next(model.parameters())
    answers: dict[str, str] = {}
    batches = _batches(ordered, Path(image_root), batch_size, skipped)
    total = -(-len(ordered) // batch_size)
    with torch.inference_mode():
        for chunk, pictures in track(batches, description="teacher answering", total=total):
            if not chunk:
                continue
            pixels = adapter.prepare_images(pictures).to(device=parameter.device, dtype=parameter.dtype)
            replies = adapter.teacher_answer(model, pixels, [r.question for r in chunk], max_new_tokens)
            answers.update({r.question_id: a for r, a in zip(chunk, replies, strict=True)})
    return answers
