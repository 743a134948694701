"""Pseudo-labels the baseline agrees with (co-training's agreement rule, Blum & Mitchell 1998; beyond the
paper).

The run's baseline, trained on the real records only, answers every generated question on its image; a pair
is kept when that answer equals the teacher's after VQA normalization (the round-trip filter's rule,
`stages.pseudolabel.filters.agrees`) with the run's own baseline as the round-trip model. The two models
learned differently (one generates question and answer from the image, the other answers a given question),
so where they agree the pair is more often right: on the embedded default at 2% labels, 87% of the agreed
pairs against 78% of all parsed ones (docs/benchmarks.md (m)). The agreed recipe then trains on all of them
rather than on as many as the real records.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from seltda.core.fileio import cached_json
from seltda.core.records import Record
from seltda.eval.question_types import TypeIndex
from seltda.stages.evaluate import EvaluateConfig
from seltda.stages.pseudolabel.filters import agrees


def agreed(
    records: Sequence[Record], answers: dict[str, str], index: TypeIndex
) -> tuple[list[Record], dict[str, Any]]:
    """The pairs whose answer the baseline gives too (`answers`: the baseline's, by question id; a pair it
    did not answer, e.g. its image was unreadable, is dropped), and a summary: kept and dropped per type."""

    def judge(record: Record) -> tuple[Record, bool]:
        # a pseudo-label always has its provenance; it keeps what the baseline said, as the filter does
        said = record.provenance.model_copy(update={"roundtrip_answer": answers.get(record.question_id)})
        checked = record.model_copy(update={"provenance": said})
        return checked, agrees(checked)

    return select(records, judge, index, share="agreement")


def select(
    records: Sequence[Record],
    judge: Callable[[Record], tuple[Record, bool]],
    index: TypeIndex,
    share: str = "kept_share",
) -> tuple[list[Record], dict[str, Any]]:
    """The pairs `judge` keeps (each as it returns it) and their `selection_summary`."""
    kept, counts = [], Counter()
    for record in records:
        judged, keep = judge(record)
        counts[(index.type_of(record), keep)] += 1
        if keep:
            kept.append(judged)
    return kept, selection_summary(len(records), counts, share)


def selection_summary(pairs: int, counts: Counter, share: str = "kept_share") -> dict[str, Any]:
    """What a selection of pseudo-labels kept: `pairs`, `kept`, and per question type the pairs kept, dropped
    and the share kept in % under `share` (`counts`: (type, kept) -> pairs)."""
    per_type = {}
    for kind in sorted({kind for kind, _ in counts}):
        kept, dropped = counts[(kind, True)], counts[(kind, False)]
        per_type[kind] = {
            "kept": kept,
            "dropped": dropped,
            share: round(100 * kept / max(1, kept + dropped), 2),
        }
    kept_total = sum(n for (_, keep), n in counts.items() if keep)
    return {"pairs": pairs, "kept": kept_total, "per_type": per_type}


def baseline_answers(
    baseline: Path, records: list[Record], images: Path, cfg: EvaluateConfig, out_file: Path
) -> dict[str, str]:
    """The baseline's greedy answers to the pairs' questions (read back when `out_file` holds answers to
    these very questions, else answered and written with the counts of skipped images)."""
    asked = hashlib.sha256("\n".join(f"{r.question_id}\t{r.image}\t{r.question}" for r in records).encode())

    def answer() -> dict[str, Any]:
        from seltda.stages.evaluate import predict

        answers, skipped = predict(str(baseline), records, images, cfg)
        return {"skipped_images": skipped, "answers": answers}

    key = {"model": str(baseline), "questions": asked.hexdigest()}
    return cached_json(out_file, key, answer)["answers"]
