"""Paired bootstrap comparison of two sets of per-question scores."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["compare_scores", "paired_bootstrap"]

# Upper bound on resampled indices held in memory at once (about 32 MiB of int64).
_BOOTSTRAP_CHUNK_ELEMENTS = 1 << 22


def paired_bootstrap(
    scores_a: Sequence[float],
    scores_b: Sequence[float],
    n_resamples: int = 10000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Paired bootstrap over questions of ``mean(b) - mean(a)``.

    ``scores_a[i]`` and ``scores_b[i]`` must refer to the same question. Returns the point estimate
    ``diff``, a percentile confidence interval (``ci_low``, ``ci_high``) and a two-sided ``p_value``: twice
    the share of resampled differences that are zero or of the opposite sign to ``diff``, capped at 1
    (1.0 when ``diff`` is 0).
    """
    a = np.asarray(scores_a, dtype=np.float64)
    b = np.asarray(scores_b, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError("paired_bootstrap expects two flat sequences of scores")
    if a.shape != b.shape:
        raise ValueError(f"paired_bootstrap needs paired scores, got {a.size} and {b.size} values")
    if a.size == 0:
        raise ValueError("paired_bootstrap needs at least one pair of scores")
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must lie strictly between 0 and 1")

    deltas = b - a
    n = deltas.size
    diff = float(deltas.mean())
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOTSTRAP_CHUNK_ELEMENTS // n)
    boot = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        indices = rng.integers(0, n, size=(stop - start, n))
        boot[start:stop] = deltas[indices].mean(axis=1)

    alpha = 1.0 - confidence
    ci_low, ci_high = np.quantile(boot, [alpha / 2, 1.0 - alpha / 2])
    if diff > 0:
        against = np.count_nonzero(boot <= 0)
    elif diff < 0:
        against = np.count_nonzero(boot >= 0)
    else:
        against = n_resamples
    p_value = min(1.0, 2.0 * against / n_resamples)
    return {
        "diff": diff,
        "ci_low": float(ci_low),
        "ci_high": float(ci_high),
        "p_value": float(p_value),
        "n": int(n),
        "n_resamples": int(n_resamples),
        "confidence": float(confidence),
    }


def compare_scores(
    per_question_a: Mapping[str, float], per_question_b: Mapping[str, float], **kw: Any
) -> dict[str, Any]:
    """Paired bootstrap of two ``per_question`` score maps on their common question ids (sorted).

    Extra keyword arguments go to :func:`paired_bootstrap`. Adds ``n_common``, ``accuracy_a`` and
    ``accuracy_b`` (plain means on the common questions, on the scale of the inputs).
    """
    common = sorted(set(per_question_a) & set(per_question_b))
    if not common:
        raise ValueError("the two score maps have no question id in common")
    a = [float(per_question_a[qid]) for qid in common]
    b = [float(per_question_b[qid]) for qid in common]
    result = paired_bootstrap(a, b, **kw)
    result["n_common"] = len(common)
    result["accuracy_a"] = math.fsum(a) / len(a)
    result["accuracy_b"] = math.fsum(b) / len(b)
    return result
