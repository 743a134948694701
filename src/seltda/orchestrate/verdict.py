"""What a run ships, and why: the candidate that beats the baseline on dev beyond noise, else the baseline.

Every arm's gain over the baseline is measured on dev and on test with `eval.intervals.seed_aware_gain`
(seed noise included when the run has replicates). Only dev chooses: among the candidates whose dev gain's
interval lies above 0 are the confirmed ones. With the rule `accuracy-or-likelihood` a candidate is also
confirmed when the log-likelihood it gives the dev questions' reference answers beats the baseline's beyond
noise (a finer statistic than 0/1 accuracy, which on a small dev split confirms only large gains) and its
dev accuracy gain is not negative (likelihood alone rewards a model that is less confidently wrong without
answering better: docs/benchmarks.md (p)). Among the confirmed, the first in the run's order of preference
ships (`prefer: listed`): a dev split that can just confirm a gain cannot rank recipes a few points apart,
so ranking by dev gain mostly ranks dev noise (docs/benchmarks.md (x)). Without an order (`dev-gain`),
those confirmed by accuracy come first, by their dev accuracy gain, then those confirmed by likelihood,
by their likelihood gain. The shipped arm's replicate with the best dev accuracy is shipped.
When none does, the baseline is shipped and the verdict says so, with the smallest gain that dev could have
seen (`Gain.detectable`): a small labeled set cannot confirm a small gain, and the user should know which of
the two the verdict means. The test figures are reported, never used.
"""

from __future__ import annotations

from collections.abc import Sequence

from seltda.eval.intervals import detectable_gain, seed_aware_gain
from seltda.orchestrate.arms import BASELINE, Arm
from seltda.orchestrate.run_config import VerdictRule
from seltda.run.artifacts import ArmSummary, Evaluation, Gain, Likelihoods, Shipped


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def _gain(
    baseline: Sequence[Evaluation | Likelihoods], arm: Sequence[Evaluation | Likelihoods], questions: str
) -> Gain | None:
    pairs = min(len(baseline), len(arm))
    if pairs == 0:
        return None
    result = seed_aware_gain(
        [e.per_question for e in baseline[:pairs]],
        [e.per_question for e in arm[:pairs]],
        questions=questions,
    )
    return Gain.model_validate(result)


def summarize(arms: Sequence[Arm], pseudolabel_counts: dict[str, int]) -> dict[str, ArmSummary]:
    """`metrics.json`'s `arms`: each arm's models, dev and test accuracies and gains over the baseline."""
    baseline = next(a for a in arms if a.name == BASELINE)
    summaries = {}
    for arm in arms:
        summary = ArmSummary(
            recipe=arm.recipe.description if arm.recipe else "the same training on the real records only",
            candidate=arm.candidate,
            models=[str(m) for m in arm.models],
            pseudolabels=pseudolabel_counts.get(arm.name),
            dev=_mean([e.accuracy for e in arm.dev]),
            dev_per_replicate=[e.accuracy for e in arm.dev],
            test=_mean([e.accuracy for e in arm.test]),
            test_per_replicate=[e.accuracy for e in arm.test],
        )
        if arm.name != BASELINE:
            summary.gain_dev = _gain(baseline.dev, arm.dev, "dev")
            if summary.gain_dev is not None:
                detectable = detectable_gain(summary.gain_dev.ci_low, summary.gain_dev.ci_high)
                summary.gain_dev.detectable = None if detectable is None else round(detectable, 2)
            summary.gain_test = _gain(baseline.test, arm.test, "test")
            if arm.dev_likelihood and baseline.dev_likelihood:
                summary.gain_dev_likelihood = _gain(baseline.dev_likelihood, arm.dev_likelihood, "dev")
        summaries[arm.name] = summary
    return summaries


def _signed(value: float) -> str:
    return f"{value:+.2f}"


def _interval(gain: Gain) -> str:
    return f"{_signed(gain.diff)} [{_signed(gain.ci_low)}, {_signed(gain.ci_high)}]"


def confirmed_by(summary: ArmSummary, rule: VerdictRule) -> str | None:
    """How dev confirms the candidate beats the baseline under `rule` (None: it does not)."""
    accuracy = summary.gain_dev
    if accuracy.ci_low > 0:
        return "accuracy"
    likelihood = summary.gain_dev_likelihood
    if rule == "accuracy-or-likelihood" and likelihood is not None and likelihood.ci_low > 0:
        return "likelihood" if accuracy.diff >= 0 else None
    return None


def _judged(summaries: dict[str, ArmSummary]) -> dict[str, ArmSummary]:
    """The candidates the verdict judges: every arm but the baseline and the references, measured on dev."""
    return {
        name: s
        for name, s in summaries.items()
        if name != BASELINE and s.candidate and s.gain_dev is not None
    }


def ranked(
    summaries: dict[str, ArmSummary], rule: VerdictRule, preference: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """The candidates dev confirms under `rule` with how each was confirmed, the one to ship first. With a
    `preference` (candidate names, most preferred first), in its order; without (or among the confirmed it
    does not name, last), those confirmed by accuracy come first, by dev accuracy gain, then those confirmed
    by likelihood only, by likelihood gain: the statistic that confirmed them."""
    how = {name: confirmed_by(s, rule) for name, s in _judged(summaries).items()}
    order = list(preference or [])

    def rank(name: str) -> tuple:
        listed = -order.index(name) if name in order else -len(order)
        if how[name] == "accuracy":
            return listed, True, summaries[name].gain_dev.diff
        return listed, False, summaries[name].gain_dev_likelihood.diff

    return [(name, how[name]) for name in sorted((n for n in how if how[n]), key=rank, reverse=True)]


def winner(
    summaries: dict[str, ArmSummary], rule: VerdictRule, preference: Sequence[str] | None = None
) -> tuple[str | None, str | None]:
    """The candidate to ship and how dev confirmed it (`ranked`'s first); (None, None): none is confirmed."""
    confirmed = ranked(summaries, rule, preference)
    return confirmed[0] if confirmed else (None, None)


def choose(
    arms: Sequence[Arm],
    summaries: dict[str, ArmSummary],
    rule: VerdictRule,
    preference: Sequence[str] | None = None,
) -> tuple[Shipped | None, str]:
    """The shipped model and the verdict sentence (`rule`: what on dev confirms a candidate;
    `preference`: which confirmed candidate ships, `winner`)."""
    baseline = summaries[BASELINE]
    if baseline.dev is None:
        return None, (
            "no dev records, so nothing was chosen: the test comparison is evidence, not a choice "
            "(set `dev:` or `dev_fraction` > 0 to let seltda choose)"
        )
    judged = _judged(summaries)
    confirmed = ranked(summaries, rule, preference)
    name, how = confirmed[0] if confirmed else (None, None)
    dev_n = baseline.gain_dev.n if baseline.gain_dev else None
    questions = next((s.gain_dev.n for s in judged.values()), dev_n)
    where = f"on {questions} dev questions" if questions else "on dev"
    if name is not None:
        chosen = summaries[name]
        reason = (
            f"shipping {name}: it beats the baseline {where} by {_interval(chosen.gain_dev)} "
            f"({chosen.gain_dev.covers})"
        )
        if how == "likelihood":
            reason = (
                f"shipping {name}: {where} it gives the reference answers a higher log-likelihood than the "
                f"baseline, {chosen.gain_dev_likelihood.in_nats()} "
                f"({chosen.gain_dev_likelihood.covers}), and answers no worse, accuracy "
                f"{_interval(chosen.gain_dev)}"
            )
        if len(confirmed) > 1:
            others = ", ".join(f"{n} (by {by})" for n, by in confirmed[1:])
            order = "their dev gains"
            if preference is not None:
                unnamed = any(n not in preference for n, _ in confirmed[1:])
                order = "the candidates' order of preference" + (", then their dev gains" if unnamed else "")
            reason += f"; dev also confirms {others}, ranked after it by {order}"
    else:
        name = BASELINE
        best = max(judged, key=lambda n: judged[n].gain_dev.diff, default=None)
        tried = (
            f"the best, {best}, gains {_interval(judged[best].gain_dev)} ({judged[best].gain_dev.covers})"
            if best
            else "no candidate was trained"
        )
        reason = f"shipping the baseline: no candidate beats it {where} beyond noise; {tried}"
        if best and rule == "accuracy-or-likelihood" and judged[best].gain_dev_likelihood is not None:
            reason += f", likelihood {judged[best].gain_dev_likelihood.in_nats()}"
        if best and judged[best].gain_dev.detectable is not None:
            reason += (
                f"; this dev split sees a real gain of about {_signed(judged[best].gain_dev.detectable)} "
                "points or more 80% of the time, not a smaller one (4x the dev questions halve that)"
            )
    arm = next(a for a in arms if a.name == name)
    best_k = max(range(len(arm.dev)), key=lambda k: arm.dev[k].accuracy)
    accuracy = arm.test[best_k].accuracy if len(arm.test) > best_k else None
    shipped = Shipped(
        arm=name,
        model=str(arm.models[best_k]),
        replicate=best_k + 1,
        accuracy=accuracy,
        dev_accuracy=arm.dev[best_k].accuracy,
        selected_model=str(arm.models[best_k]),
        selected_accuracy=accuracy,
    )
    return shipped, reason
