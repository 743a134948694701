"""Pseudo-labels grounded in their image (beyond the paper; the language prior of VQA, Agrawal et al. 2018).

A model trained on few labels answers many questions from the question alone: "is there a red shape?" is
"no" for most images, so both the teacher and the baseline say "no" also when the shape is red, and the
`agreed` recipe keeps that shared mistake. On the embedded default at 2% labels, agreed pairs about an
attribute the image has were right 38% (colour) and 22% (shape) of the time, those about an absent one
99.6% and 88% (docs/benchmarks.md (s)).

Grounding measures how much the pair's own image supports its answer: the run's baseline scores the answer
(log-likelihood, teacher-forced) on the pair's image and on `others` images drawn from the other pairs', and
the pair's grounding is the first minus the log of the mean likelihood on the others (the pointwise mutual
information of image and answer under the baseline). An answer the baseline would give whatever the image
scores about 0; a recipe with `grounded: T` keeps the pairs above T nats.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seltda.core.fileio import cached_json
from seltda.core.records import Record
from seltda.eval.question_types import TypeIndex
from seltda.orchestrate.agree import select
from seltda.stages.evaluate import EvaluateConfig

OTHERS = 4  # images each answer is also scored on


def grounding(
    baseline: Path,
    records: list[Record],
    images: Path,
    cfg: EvaluateConfig,
    out_file: Path,
    others: int = OTHERS,
    seed: int = 0,
) -> dict[str, float]:
    """Per pair, its grounding in nats (see the module): read back when `out_file` holds it for these very
    pairs and settings, else computed (1 + `others` likelihood passes of the baseline) and written. A pair
    whose image, or every other image, could not be read gets none."""
    asked = hashlib.sha256(
        "\n".join(
            f"{r.question_id}\t{r.image}\t{r.question}\t{r.majority_answer()}" for r in records
        ).encode()
    ).hexdigest()
    key = {"model": str(baseline), "pairs": asked, "others": others, "seed": seed}

    def score() -> dict[str, Any]:
        from seltda.stages.evaluate import reference_likelihoods

        rng = random.Random(seed)
        pool = sorted({r.image for r in records})
        swaps = [
            [r.model_copy(update={"image": _other(rng, pool, r.image)}) for r in records]
            for _ in range(others)
        ]
        (own, skipped), *elsewhere = reference_likelihoods(str(baseline), [records, *swaps], images, cfg)
        scores = {
            qid: own[qid] - _log_mean_exp(values)
            for qid in own
            if (values := [scored[qid] for scored, _ in elsewhere if qid in scored])
        }
        return {"skipped_images": skipped, "grounding": scores}

    return cached_json(out_file, key, score)["grounding"]


def grounded(
    records: Sequence[Record], scores: dict[str, float], threshold: float, index: TypeIndex
) -> tuple[list[Record], dict[str, Any]]:
    """The pairs whose grounding is above `threshold` nats (a pair without one is dropped), and a summary
    (`selection_summary`) with the threshold."""
    kept, summary = select(records, lambda r: (r, scores.get(r.question_id, -math.inf) > threshold), index)
    return kept, summary | {"threshold": threshold}


def _other(rng: random.Random, pool: list[str], image: str) -> str:
    """An image of `pool` other than `image` (itself when it is the only one)."""
    if len(pool) < 2:
        return image
    while (drawn := rng.choice(pool)) == image:
        pass
    return drawn


def _log_mean_exp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values) / len(values))
