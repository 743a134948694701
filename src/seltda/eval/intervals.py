"""The gain of one arm over another with the noise that matters: training seeds as well as test questions.

With one replicate per arm the only noise that can be measured is test-set sampling: a paired bootstrap
over questions (`eval.bootstrap`). With K >= 2 replicates (independently trained pairs: replicate k of both
arms shares seed k) the mean gain's variance has two parts, the spread of the per-replicate gains (training
noise, s^2 / K) and the test-set sampling of the replicate-averaged per-question gain; the interval is
mean +- t(df) * sqrt(s^2 / K + se_test^2), with the Welch-Satterthwaite degrees of freedom of that sum (K - 1
for the seed part, n - 1 for the test part): with few replicates and a large seed spread the interval is wide,
as it should be; when test sampling dominates it tends to the normal one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
from scipy import stats

from seltda.eval.bootstrap import paired_bootstrap


def covers(questions: str, replicates: int) -> str:
    """What an interval over `questions` (test, dev) with this many replicates includes, in words."""
    if replicates == 1:
        return f"{questions} questions only (one replicate: training-seed noise is not in this interval)"
    return f"training seeds and {questions} questions"


TEST_ONLY = covers("test", 1)
SEEDS_AND_TEST = covers("test", 2)


def _common(maps: Sequence[Mapping[str, float]]) -> list[str]:
    common = set(maps[0])
    for scores in maps[1:]:
        common &= set(scores)
    if not common:
        raise ValueError("the replicates' score maps have no question id in common")
    return sorted(common)


def seed_aware_gain(
    baseline: Sequence[Mapping[str, float]],
    candidate: Sequence[Mapping[str, float]],
    confidence: float = 0.95,
    n_resamples: int = 10000,
    seed: int = 0,
    questions: str = "test",
) -> dict[str, Any]:
    """Gain of `candidate` over `baseline` (per-question score maps, one per replicate, paired by index;
    `questions` names the question set in `covers`: test, dev).

    Returns `diff` (mean over replicates of each replicate's gain), `ci_low`/`ci_high`, `per_replicate`,
    `replicates`, `n` (common questions) and `covers` (what noise the interval includes).
    """
    if len(baseline) != len(candidate) or not baseline:
        raise ValueError(f"need paired replicates, got {len(baseline)} and {len(candidate)}")
    ids = _common([*baseline, *candidate])
    a = np.array([[scores[q] for q in ids] for scores in baseline], dtype=np.float64)
    b = np.array([[scores[q] for q in ids] for scores in candidate], dtype=np.float64)
    gains = (b - a).mean(axis=1)
    per_question = (b - a).mean(axis=0)  # the replicate-averaged gain of each question
    k, n = len(gains), len(ids)
    result: dict[str, Any] = {
        "diff": float(gains.mean()),
        "per_replicate": [round(float(g), 4) for g in gains],
        "replicates": k,
        "n": n,
        "confidence": confidence,
    }
    if k == 1:
        boot = paired_bootstrap(a[0], b[0], n_resamples=n_resamples, confidence=confidence, seed=seed)
        result.update(ci_low=boot["ci_low"], ci_high=boot["ci_high"], covers=covers(questions, 1))
        return result
    seed_var = float(gains.var(ddof=1)) / k
    test_var = float(per_question.var(ddof=1)) / n if n > 1 else 0.0
    total = seed_var + test_var
    denominator = seed_var**2 / (k - 1) + (test_var**2 / (n - 1) if n > 1 else 0.0)
    df = total**2 / denominator if denominator > 0 else float("inf")
    half = float(stats.t.ppf(0.5 + confidence / 2, df=df)) * math.sqrt(total)
    result.update(ci_low=result["diff"] - half, ci_high=result["diff"] + half, covers=covers(questions, k))
    return result


def detectable_gain(
    ci_low: float, ci_high: float, confidence: float = 0.95, power: float = 0.8
) -> float | None:
    """The smallest true gain that a comparison with this interval's noise confirms (the interval's lower end
    above 0) with probability `power`: (z_(1+confidence)/2 + z_power) * se, the standard error read off the
    interval's half-width (normal approximation). Four times the questions halve it, when question sampling
    dominates the noise. None for a zero-width interval (two models that agree on every question): it
    measures no noise, so it claims no power."""
    if ci_high <= ci_low:
        return None
    normal = NormalDist()
    z = normal.inv_cdf(0.5 + confidence / 2)
    return (z + normal.inv_cdf(power)) * (ci_high - ci_low) / (2 * z)
