"""Choosing on dev: a candidate ships only when it beats the baseline on dev beyond noise."""

from __future__ import annotations

from pathlib import Path

import pytest

from seltda.core.records import Record
from seltda.eval.question_types import TypeIndex
from seltda.orchestrate.aim import aim, type_margins
from seltda.orchestrate.arms import Arm
from seltda.orchestrate.split import hold_out_dev
from seltda.orchestrate.verdict import choose, summarize
from seltda.run.artifacts import Evaluation, Likelihoods


def _evaluation(right: int, total: int = 200, offset: int = 0) -> Evaluation:
    """`right` of `total` questions answered correctly (those from `offset` on, wrapping)."""
    correct = {(offset + i) % total for i in range(right)}
    per_question = {f"q{i:03d}": 100.0 * (i in correct) for i in range(total)}
    accuracy = round(100 * right / total, 2)
    return Evaluation(
        model="m",
        data="d",
        accuracy=accuracy,
        exact_match=accuracy,
        n=total,
        missing=0,
        per_question=per_question,
    )


def _arms(baseline_right: int, candidate_right: int, replicates: int = 1, offset: int = 0) -> list[Arm]:
    base = Arm("baseline", True, None, [Path(f"baseline-{k}") for k in range(replicates)])
    cand = Arm("seltda", True, object(), [Path(f"student-{k}") for k in range(replicates)])
    base.dev = [_evaluation(baseline_right) for _ in range(replicates)]
    cand.dev = [_evaluation(candidate_right + k, offset=offset) for k in range(replicates)]
    base.test, cand.test = [_evaluation(100)] * replicates, [_evaluation(110)] * replicates
    cand.recipe = type("R", (), {"description": "own"})()
    return [base, cand]


def test_a_clear_dev_gain_ships_the_candidate_and_its_best_replicate():
    arms = _arms(100, 160, replicates=2)  # +30 points on dev, every question the baseline got right kept
    summaries = summarize(arms, {"seltda": 50})
    shipped, verdict = choose(arms, summaries, "accuracy")
    assert shipped.arm == "seltda" and shipped.model == "student-1"  # 161 right beats 160
    assert shipped.dev_accuracy == 80.5 and shipped.accuracy == 55.0
    assert summaries["seltda"].gain_dev.ci_low > 0 and summaries["seltda"].pseudolabels == 50
    assert verdict.startswith("shipping seltda") and "training seeds and dev questions" in verdict


def test_a_gain_within_noise_ships_the_baseline_and_says_why():
    arms = _arms(100, 104, offset=50)  # +2 points on 200 dev questions, 50 answered differently: noise
    summaries = summarize(arms, {})
    shipped, verdict = choose(arms, summaries, "accuracy")
    assert shipped.arm == "baseline" and shipped.model == "baseline-0"
    assert "no candidate beats it on 200 dev questions beyond noise" in verdict and "seltda" in verdict
    assert "dev questions only" in verdict  # one replicate: the (dev) interval says what it covers
    gain = summaries["seltda"].gain_dev  # and what this dev could have seen: 2.80 standard errors
    assert gain.detectable == pytest.approx(2.8016 * (gain.ci_high - gain.ci_low) / (2 * 1.96), abs=0.01)
    assert f"sees a real gain of about +{gain.detectable:.2f} points or more 80% of the time" in verdict


def test_a_reference_is_never_shipped():
    arms = _arms(100, 180)
    arms[1].candidate = False
    shipped, _ = choose(arms, summarize(arms, {}), "accuracy")
    assert shipped.arm == "baseline"


def test_without_dev_nothing_is_chosen():
    arms = _arms(100, 180)
    for arm in arms:
        arm.dev = []
    shipped, verdict = choose(arms, summarize(arms, {}), "accuracy")
    assert shipped is None and "nothing was chosen" in verdict


def _record(qid, image, question, answer, kind=None):
    return Record(question_id=qid, image=image, question=question, answers=[answer], question_type=kind)


def test_dev_is_held_out_by_image_with_all_its_questions():
    records = [_record(f"{i}-{j}", f"img{i}.png", "q?", "a") for i in range(10) for j in range(3)]
    train, dev = hold_out_dev(records, 0.2, seed=0)
    assert len({r.image for r in dev}) == 2 and len(dev) == 6 and len(train) == 24
    assert not {r.image for r in dev} & {r.image for r in train}
    assert hold_out_dev(records, 0.2, seed=0) == (train, dev)
    assert hold_out_dev(records, 0.2, seed=1) != (train, dev)
    assert hold_out_dev(records[:3], 0.5)[1] == []  # one image: nothing to hold out
    assert len({r.image for r in hold_out_dev(records[:6], 0.9)[0]}) == 1  # one image always trains


def test_aimed_pseudo_labels_drop_the_types_the_teacher_answers_worse():
    dev = [_record(f"s{i}", "a.png", "What shape?", "circle", "shape") for i in range(12)]
    dev += [_record(f"y{i}", "a.png", "Is there a circle?", "yes", "yes/no") for i in range(12)]
    dev += [_record(f"c{i}", "a.png", "What color?", "red", "color") for i in range(5)]
    teacher = {r.question_id: r.answers[0] if r.question_type != "yes/no" else "no" for r in dev}
    teacher.update({f"s{i}": "square" for i in range(3)})  # 9 of 12 shapes right
    baseline = {r.question_id: 100.0 if r.question_type == "yes/no" else 0.0 for r in dev}
    index = TypeIndex(dev)
    margins = type_margins(dev, teacher, [baseline], index, metric="exact")
    assert {k: v for k, v in margins["shape"].items() if k != "margin_ci"} == {
        "n": 12,
        "teacher": 75.0,
        "baseline": 0.0,
        "margin": 75.0,
    }
    low, high = margins["shape"]["margin_ci"]  # 75 +- 1.96 * sd(9 x 100, 3 x 0) / sqrt(12)
    assert (low, high) == pytest.approx((75 - 1.96 * 45.23 / 12**0.5, 75 + 1.96 * 45.23 / 12**0.5), abs=0.01)
    assert margins["yes/no"]["margin_ci"] == [-100.0, -100.0] and margins["color"]["n"] == 5
    synthetic = [
        _record("p1", "u.png", "Which shape is it?", "circle"),
        _record("p2", "u.png", "Is there a red shape?", "yes"),
        _record("p3", "u.png", "What color is it?", "red"),  # too few dev questions to judge: kept
    ]
    kept, summary = aim(synthetic, margins, index)
    assert [r.question_id for r in kept] == ["p1", "p3"]
    assert summary["dropped_types"] == ["yes/no"] and summary["dropped"] == {"yes/no": 1}
    # a negative margin within noise keeps its pairs: 12 shape questions, the teacher 1 answer behind
    teacher.update({f"s{i}": "square" for i in range(12)})
    teacher.update({f"s{i}": "circle" for i in range(11)})
    baseline.update({f"s{i}": 100.0 for i in range(12)})
    close = type_margins(dev, teacher, [baseline], index, metric="exact")["shape"]
    assert close["margin"] < 0 < close["margin_ci"][1]
    assert [r.question_id for r in aim(synthetic, {"shape": close}, index)[0]] == ["p1", "p2", "p3"]


def _likelihoods(values: dict[str, float]) -> Likelihoods:
    return Likelihoods(
        model="m", data="d", mean=sum(values.values()) / len(values), n=len(values), per_question=values
    )


def _with_likelihood(arms: list[Arm], margin: float, noise: float = 0.05) -> list[Arm]:
    """The candidate gives every dev question's reference answer `margin` nats more than the baseline (with
    a small per-question spread, so the interval is not a point)."""
    ids = sorted(arms[0].dev[0].per_question)
    base = {q: -1.0 - noise * (i % 3) for i, q in enumerate(ids)}
    arms[0].dev_likelihood = [_likelihoods(base)]
    arms[1].dev_likelihood = [
        _likelihoods({q: v + margin + noise * (i % 2) for i, (q, v) in enumerate(base.items())})
    ]
    return arms


def test_a_likelihood_gain_ships_the_candidate_only_under_the_rule_that_asks_for_it():
    arms = _with_likelihood(_arms(100, 104, offset=50), margin=0.3)  # accuracy +2 within noise, likelihood up
    summaries = summarize(arms, {})
    likelihood = summaries["seltda"].gain_dev_likelihood
    assert likelihood.ci_low > 0 and likelihood.n == 200
    assert choose(arms, summaries, "accuracy")[0].arm == "baseline"  # the strict rule reads accuracy only
    shipped, verdict = choose(arms, summaries, "accuracy-or-likelihood")
    assert shipped.arm == "seltda"
    assert "higher log-likelihood than the baseline, +0.3" in verdict and "answers no worse" in verdict


def test_a_likelihood_gain_with_lower_dev_accuracy_ships_the_baseline():
    # less confidently wrong, answering worse (the 5% case of docs/benchmarks.md (p)): not shipped
    arms = _with_likelihood(_arms(104, 100, offset=50), margin=0.3)
    shipped, verdict = choose(arms, summarize(arms, {}), "accuracy-or-likelihood")
    assert shipped.arm == "baseline" and "likelihood +0.3" in verdict


def test_an_accuracy_gain_ships_under_either_rule_whatever_the_likelihood():
    arms = _with_likelihood(_arms(100, 160), margin=-0.5)
    for rule in ("accuracy", "accuracy-or-likelihood"):
        shipped, verdict = choose(arms, summarize(arms, {}), rule)
        assert shipped.arm == "seltda" and "beats the baseline on 200 dev questions by +30.00" in verdict


def test_among_candidates_confirmed_by_likelihood_the_larger_likelihood_gain_ships():
    # two candidates, neither confirmed by accuracy: `sharper` answers one dev question fewer right than
    # `louder` but gives the reference answers more likelihood, the statistic that confirmed both
    louder = _with_likelihood(_arms(100, 106, offset=50), margin=0.2)
    sharper = _with_likelihood(_arms(100, 104, offset=50), margin=0.4)
    baseline, first = louder
    second = sharper[1]
    first.name, second.name = "louder", "sharper"
    arms = [baseline, first, second]
    summaries = summarize(arms, {})
    assert summaries["louder"].gain_dev.diff > summaries["sharper"].gain_dev.diff > 0
    assert all(summaries[n].gain_dev.ci_low <= 0 for n in ("louder", "sharper"))
    shipped, verdict = choose(arms, summaries, "accuracy-or-likelihood")
    assert shipped.arm == "sharper" and "higher log-likelihood than the baseline, +0.4" in verdict


def test_with_an_order_of_preference_the_first_confirmed_candidate_ships_not_the_largest_dev_gain():
    # both confirmed by accuracy; `louder` gains more on dev, `sharper` comes first in the run's order
    louder, sharper = _arms(100, 170)[1], _arms(100, 150)[1]
    louder.name, sharper.name = "louder", "sharper"
    arms = [_arms(100, 100)[0], louder, sharper]
    summaries = summarize(arms, {})
    assert summaries["louder"].gain_dev.diff > summaries["sharper"].gain_dev.diff
    assert all(summaries[n].gain_dev.ci_low > 0 for n in ("louder", "sharper"))
    assert choose(arms, summaries, "accuracy")[0].arm == "louder"  # no order: the largest dev gain
    shipped, verdict = choose(arms, summaries, "accuracy", ["sharper", "louder"])
    assert shipped.arm == "sharper"
    assert verdict.endswith(
        "dev also confirms louder (by accuracy), ranked after it by the candidates' order of preference"
    )
    # an order names what it prefers, never what dev does not confirm
    arms[2].dev = [_evaluation(101, offset=50)]
    assert choose(arms, summarize(arms, {}), "accuracy", ["sharper", "louder"])[0].arm == "louder"


def test_the_order_ranks_a_likelihood_confirmed_candidate_above_an_accuracy_confirmed_one():
    # `first`: confirmed by likelihood only; `second` and `third`: by accuracy, `third` gaining more
    base, first = _with_likelihood(_arms(100, 104, offset=50), margin=0.3)
    second, third = _arms(100, 150)[1], _arms(100, 170)[1]
    first.name, second.name, third.name = "first", "second", "third"
    arms = [base, third, second, first]  # trained in another order than preferred
    for arm in (second, third):
        arm.dev_likelihood = first.dev_likelihood
    summaries = summarize(arms, {})
    assert summaries["first"].gain_dev.ci_low <= 0 < summaries["first"].gain_dev_likelihood.ci_low
    shipped, verdict = choose(arms, summaries, "accuracy-or-likelihood", ["first", "second", "third"])
    assert shipped.arm == "first"
    assert "dev also confirms second (by accuracy), third (by accuracy), ranked after it by" in verdict
    assert choose(arms, summaries, "accuracy-or-likelihood")[0].arm == "third"  # dev gain: accuracy first
    # an order naming only some: the confirmed it omits come after, ranked by dev gain among themselves
    assert choose(arms, summaries, "accuracy-or-likelihood", ["first"])[1].endswith(
        "third (by accuracy), second (by accuracy), ranked after it by the candidates' order of preference, "
        "then their dev gains"
    )


def test_the_run_passes_its_candidates_order_and_dev_gain_passes_none(dataset, tiny_model, tmp_path):
    from conftest import tiny_run_config

    ratio3 = {"name": "ratio3", "student": {"synthetic_ratio": 3}}
    cfg = tiny_run_config(dataset, tiny_model, tmp_path / "run", candidates=[ratio3, "agreed"])
    assert cfg.preference == ["ratio3", "agreed"]
    assert cfg.model_copy(update={"prefer": "dev-gain"}).preference is None
    assert type(cfg).model_fields["candidates"].default == ["probed", "grounded", "agreed", "seltda"]


def test_a_recorded_config_without_prefer_is_read_as_ranked_by_dev_gain(tmp_path):
    from seltda.orchestrate.run_config import load_recorded_config

    path = tmp_path / "config.yaml"
    made_before = "out: o\ntrain: t\nimages: i\ntest: null\ncandidates: [seltda, agreed]\n"
    path.write_text(made_before)
    assert load_recorded_config(path).prefer == "dev-gain" and load_recorded_config(path).preference is None
    path.write_text(made_before + "prefer: listed\n")
    assert load_recorded_config(path).preference == ["seltda", "agreed"]
