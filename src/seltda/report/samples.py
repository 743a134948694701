"""The report's sample sections: a gallery of pseudo-labeled images, and questions one arm gets right."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from typing import Any

from seltda.report.images import Thumbnails
from seltda.report.inputs import RunInputs, metric_label, num

MAX_PAIRS_PER_IMAGE = 20


def gallery(inputs: RunInputs, thumbs: Thumbnails, size: int, seed: int) -> dict[str, Any] | None:
    """A seeded sample of the pool's images with their kept and rejected generations."""
    sources = [(p, kind) for p, kind in ((inputs.kept_file, "kept"), (inputs.rejected_file, "rejected"))]
    sources = [(p, kind) for p, kind in sources if p.is_file()]
    if not sources or size <= 0:
        return None
    names: set[str] = set()
    with_kept: set[str] = set()
    for path, kind in sources:  # first pass: only the image names, so a big pool stays cheap
        found = {item["image"] for item in inputs.objects(path) if isinstance(item.get("image"), str)}
        names.update(found)
        if kind == "kept":
            with_kept = found
    if not names:
        return None
    chosen = sorted(random.Random(seed).sample(sorted(names), min(size, len(names))))
    pairs: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
    for path, kind in sources:
        for item in inputs.objects(path):
            if item.get("image") in pairs:
                pairs[item["image"]].append(_pair(item, kind))
    items = []
    for name in chosen:
        entries = sorted(pairs[name], key=lambda p: (p["sample_index"] is None, p["sample_index"] or 0))
        thumb, why = thumbs.get(inputs.pool_root, name, "image root unknown (no pseudo-label manifest)")
        items.append(
            {
                "image": name,
                "thumb": thumb,
                "thumb_problem": why,
                "pairs": entries[:MAX_PAIRS_PER_IMAGE],
                "more": max(0, len(entries) - MAX_PAIRS_PER_IMAGE),
                "kept": sum(p["kind"] == "kept" for p in entries),
                "rejected": sum(p["kind"] == "rejected" for p in entries),
            }
        )
    return {
        "items": items,
        "pool": len(names),
        "with_kept": len(with_kept),
        "has_rejected": inputs.rejected_file.is_file(),
    }


def _pair(item: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """A kept record carries its sample in `provenance`; a rejected sample is flat."""
    sample = item.get("provenance") if kind == "kept" else item
    sample = sample if isinstance(sample, dict) else {}
    index = sample.get("sample_index")
    answers = item.get("answers")
    return {
        "kind": kind,
        "question": str(item.get("question", "")),
        "answers": ", ".join(map(str, answers)) if isinstance(answers, list) else "",
        "raw_text": str(sample.get("raw_text", "")),
        "reason": str(item.get("reason", "")),
        "score": num(sample.get("score")),
        "sample_index": index if isinstance(index, int) else None,
    }


def examples(inputs: RunInputs, thumbs: Thumbnails, count: int, seed: int) -> dict[str, Any] | None:
    """Seeded test questions the student scores higher on than the baseline, and the reverse.

    The scores are the evaluations' own `per_question` (the run's metric, 0-100), so a metric with
    partial credit (VQA accuracy on questions with few answers) still shows its disagreements.
    """
    base_eval, student_eval = inputs.baseline_eval, inputs.student_eval
    if base_eval is None or student_eval is None or count <= 0:
        return None
    base_scores, student_scores = base_eval.per_question, student_eval.per_question
    if not base_scores or not student_scores:
        return None
    common = [q for q in base_scores if q in student_scores]
    wins = [q for q in common if student_scores[q] > base_scores[q]]
    losses = [q for q in common if student_scores[q] < base_scores[q]]
    rng = random.Random(seed)
    picked_wins = rng.sample(wins, min(count, len(wins)))
    picked_losses = rng.sample(losses, min(count, len(losses)))
    wanted = set(picked_wins) | set(picked_losses)
    records = inputs.test_records(wanted)
    base_answers, student_answers = base_eval.answers(), student_eval.answers()

    def example(qid: str) -> dict[str, Any]:
        record = records.get(qid)
        counted = Counter(record.answers) if record is not None else Counter()
        if record is not None:
            thumb, why = thumbs.get(inputs.test_root, record.image, "image root unknown (no config.yaml)")
        else:
            thumb, why = None, "test record not found"
        return {
            "question_id": qid,
            "question": record.question if record is not None else "",
            "question_type": (record.question_type or "") if record is not None else "",
            "thumb": thumb,
            "thumb_problem": why,
            "baseline": base_answers.get(qid, ""),
            "student": student_answers.get(qid, ""),
            "truth": [{"answer": a, "count": n} for a, n in counted.most_common()],
        }

    return {
        "wins": [example(q) for q in picked_wins],
        "losses": [example(q) for q in picked_losses],
        "n_wins": len(wins),
        "n_losses": len(losses),
        "n_common": len(common),
        "metric": metric_label(student_eval.metric),
        "test_records_found": bool(records) or not wanted,
    }
