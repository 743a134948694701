"""Seed-aware gain intervals: one replicate is a paired bootstrap over questions; several add seed noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from seltda.eval.bootstrap import compare_scores, paired_bootstrap
from seltda.eval.intervals import SEEDS_AND_TEST, TEST_ONLY, detectable_gain, seed_aware_gain


def _scores(values):
    return {f"q{i}": float(v) for i, v in enumerate(values)}


def test_one_replicate_is_the_paired_bootstrap_and_says_so():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2, 300) * 100.0, rng.integers(0, 2, 300) * 100.0
    result = seed_aware_gain([_scores(a)], [_scores(b)])
    boot = compare_scores(_scores(a), _scores(b))  # what a run's compare.json holds
    assert (result["ci_low"], result["ci_high"]) == (boot["ci_low"], boot["ci_high"])
    assert result["covers"] == TEST_ONLY and result["replicates"] == 1
    assert result["diff"] == pytest.approx(b.mean() - a.mean())


def test_replicates_add_the_seed_spread_with_a_t_quantile():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 2, (3, 400)) * 100.0
    shifts = [0.0, 20.0, 40.0]  # candidate replicate k answers 0/20/40% more questions right
    cand = base.copy()
    for k, shift in enumerate(shifts):
        flip = rng.random(400) < shift / 100
        cand[k][flip] = 100.0
    result = seed_aware_gain([_scores(r) for r in base], [_scores(r) for r in cand])
    gains = (cand - base).mean(axis=1)
    per_question = (cand - base).mean(axis=0)
    seed_var, test_var = gains.var(ddof=1) / 3, per_question.var(ddof=1) / 400
    df = (seed_var + test_var) ** 2 / (seed_var**2 / 2 + test_var**2 / 399)  # Welch-Satterthwaite
    assert 2 < df < 10  # the seed part dominates here
    half = stats.t.ppf(0.975, df) * math.sqrt(seed_var + test_var)
    assert result["per_replicate"] == [round(g, 4) for g in gains]
    assert result["ci_low"] == pytest.approx(gains.mean() - half)
    assert result["ci_high"] == pytest.approx(gains.mean() + half)
    assert result["covers"] == SEEDS_AND_TEST
    # the seed spread dominates: far wider than the test-only interval of the averaged scores
    pooled = paired_bootstrap(base.mean(axis=0), cand.mean(axis=0))
    assert result["ci_high"] - result["ci_low"] > 3 * (pooled["ci_high"] - pooled["ci_low"])


def test_identical_replicate_gains_leave_only_test_sampling():
    a = [_scores([0, 100, 0, 100]), _scores([0, 100, 0, 100])]
    b = [_scores([100, 100, 0, 100]), _scores([100, 100, 0, 100])]
    result = seed_aware_gain(a, b)
    assert result["diff"] == 25.0 and result["ci_low"] < 25.0 < result["ci_high"]


def test_unpaired_replicates_are_refused():
    with pytest.raises(ValueError, match="paired replicates"):
        seed_aware_gain([_scores([1])], [_scores([1]), _scores([0])])


def test_the_detectable_gain_is_confirmed_80_percent_of_the_time():
    """A true gain of `detectable_gain` (interval of +-1.96 se) puts the interval's lower end above 0 in 80%
    of repeated comparisons, half that gain in far fewer: measured with a paired bootstrap on 0/100 scores."""
    rng = np.random.default_rng(3)
    n, flip = 400, 0.3  # 400 dev questions, 30% of them answered differently by the two models

    def deltas(gain: float) -> np.ndarray:
        # each question: the candidate alone right (+100), the baseline alone right (-100), or a tie
        u, up = rng.random(n), (flip + gain / 100) / 2
        return np.where(u < up, 100.0, np.where(u < flip, -100.0, 0.0))

    first = seed_aware_gain([_scores(np.zeros(n))], [_scores(deltas(0.0))])
    se = (first["ci_high"] - first["ci_low"]) / (2 * 1.96)
    assert detectable_gain(-1.96 * se, 1.96 * se) == pytest.approx(2.8016 * se, rel=1e-3)
    assert detectable_gain(0.0, 0.0) is None  # models that agree on every question: no noise measured
    detectable = detectable_gain(first["ci_low"], first["ci_high"])

    def confirmed(gain: float) -> float:
        runs = [paired_bootstrap(np.zeros(n), deltas(gain), n_resamples=400, seed=t) for t in range(200)]
        return sum(run["ci_low"] > 0 for run in runs) / 200

    assert 0.7 <= confirmed(detectable) <= 0.9
    assert confirmed(detectable / 2) < 0.45
