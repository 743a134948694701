"""Pseudo-labels aimed where the baseline is weak (beyond the paper; cf. DataEnvGym's skill targeting).

On the dev records, the teacher answers each question (decoding continues `Question: <q> Answer:`) and
the baseline answers it too; per question type, the margin is the teacher's accuracy minus the baseline's,
with a 95% interval over the type's dev questions (paired). The `aimed` recipe drops the pseudo-labels of
the types where the teacher answers worse than the baseline beyond that noise (the interval lies below 0):
there it would only teach the student its mistakes. Types with fewer than `MIN_QUESTIONS` dev questions,
or a margin within noise, keep their pairs (the run's own recipe decides for them).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seltda.core.fileio import atomic_write_json, read_json
from seltda.core.records import Record
from seltda.eval.metrics import score_predictions
from seltda.eval.question_types import TypeIndex

MIN_QUESTIONS = 10


def type_margins(
    dev: Sequence[Record],
    teacher_answers: dict[str, str],
    baseline_scores: Sequence[dict[str, float]],
    index: TypeIndex,
    metric: str = "auto",
) -> dict[str, dict[str, Any]]:
    """Per question type on dev: `n`, the teacher's and the baseline's accuracy (mean over the baseline's
    replicates), `margin` = teacher - baseline in points, and its 95% interval `margin_ci` (paired,
    normal approximation)."""
    teacher = score_predictions(dev, teacher_answers, metric)["per_question"]
    groups: dict[str, list[str]] = {}
    for record in dev:
        groups.setdefault(index.type_of(record), []).append(record.question_id)
    margins = {}
    for kind, ids in sorted(groups.items()):
        base = [statistics.fmean(scores.get(q, 0.0) for scores in baseline_scores) for q in ids]
        deltas = [teacher[q] - b for q, b in zip(ids, base, strict=True)]
        margin = statistics.fmean(deltas)
        half = 1.96 * statistics.stdev(deltas) / math.sqrt(len(ids)) if len(ids) > 1 else math.inf
        margins[kind] = {
            "n": len(ids),
            "teacher": round(statistics.fmean(teacher[q] for q in ids), 2),
            "baseline": round(statistics.fmean(base), 2),
            "margin": round(margin, 2),
            "margin_ci": [round(margin - half, 2), round(margin + half, 2)],
        }
    return margins


def aimed_types(margins: dict[str, dict[str, Any]]) -> set[str]:
    """The types whose pseudo-labels the aimed recipe drops: enough dev questions, and the teacher worse than
    the baseline beyond noise (the margin's interval below 0)."""
    return {k for k, m in margins.items() if m["n"] >= MIN_QUESTIONS and m["margin_ci"][1] < 0}


def aim(
    records: Sequence[Record], margins: dict[str, dict[str, Any]], index: TypeIndex
) -> tuple[list[Record], dict[str, Any]]:
    """The pseudo-labels of the types the teacher knows at least as well as the baseline, and a summary:
    the margins, the dropped types and the kept and dropped counts per type."""
    dropped_types = aimed_types(margins)
    kept, counts = [], Counter()
    for record in records:
        kind = index.type_of(record)
        counts[(kind, kind not in dropped_types)] += 1
        if kind not in dropped_types:
            kept.append(record)
    summary = {
        "margins": margins,
        "dropped_types": sorted(dropped_types),
        "kept": {k: n for (k, keep), n in sorted(counts.items()) if keep},
        "dropped": {k: n for (k, keep), n in sorted(counts.items()) if not keep},
    }
    return kept, summary


def teacher_dev_margins(
    teacher: Path,
    dev: Sequence[Record],
    dev_images: Path,
    baseline_scores: Sequence[dict[str, float]],
    index: TypeIndex,
    out_file: Path,
    metric: str = "auto",
    max_pixels: int | None = None,
) -> dict[str, dict[str, Any]]:
    """The teacher's per-type margins on dev (read back when `out_file` exists, else measured and written)."""
    if out_file.is_file():
        return read_json(out_file)["margins"]
    from seltda.stages.teacher_answers import teacher_answers

    skipped: Counter[str] = Counter()
    answers = teacher_answers(str(teacher), dev, dev_images, max_pixels=max_pixels, skipped=skipped)
    answered = [r for r in dev if r.question_id in answers]
    margins = type_margins(answered, answers, baseline_scores, index, metric)
    atomic_write_json(
        out_file,
        {"teacher": str(teacher), "margins": margins, "skipped_images": dict(skipped), "answers": answers},
    )
    return margins
