"""What each verdict rule ships on finished curve points, at the points' recorded test gains (issue 16).

For every point (a `fraction-F/seed-S` folder whose `metrics.json` holds each arm's dev accuracy gain and,
when it ran with `--verdict accuracy-or-likelihood`, its dev answer-likelihood gain) the product's own rule
(`orchestrate.verdict.winner`) is applied under `accuracy` and under `accuracy-or-likelihood`; what it ships
is scored by the arm's test accuracy against the baseline's (first replicates). Per fraction: students
shipped, the shipped gain per seed, its mean and 95% interval over seeds and test questions
(`eval.intervals.seed_aware_gain`), and the worst:

    python benchmarks/verdict_rules.py runs/c30/fraction-0.02/seed-{5,6,7,8,9} \\
        runs/c31/fraction-0.05/seed-{5,6,7,8,9}

Nothing is retrained; points without likelihood gains are judged under `accuracy` only. `--candidates
seltda,grounded` judges only those arms as candidates (the others become references), to compare candidate
sets on the same trained models. Which confirmed candidate ships follows each point's recorded config
(`prefer` and its candidates' order; a point made before `prefer` existed ranked by dev gain);
`--prefer probed,grounded,agreed,seltda` imposes that order on every point, `--prefer listed` the
candidates' order (`--candidates`' when given, else each point's), `--prefer dev-gain` the ranking by dev
gain. With `--candidates` and a point that ranked in its listed order, the `--candidates` order is used.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from seltda.eval.intervals import seed_aware_gain
from seltda.orchestrate.arms import BASELINE
from seltda.orchestrate.run_config import RunConfig
from seltda.orchestrate.verdict import winner
from seltda.run.artifacts import Evaluation, RunMetrics
from seltda.run.layout import RunLayout

RULES = ("accuracy", "accuracy-or-likelihood")


def recorded_order(point: Path) -> list[str] | None:
    """The point's own order of preference, read from its `config.yaml` as written (only `prefer` and
    `candidates`, so a point whose config has keys since removed is still read): None when it ranked by dev
    gain, or was made before `prefer` existed."""
    raw = yaml.safe_load(RunLayout(point).config.read_text(encoding="utf-8")) or {}
    if raw.get("prefer", "dev-gain") != "listed":
        return None
    listed = raw.get(
        "candidates", RunConfig.model_fields["candidates"].get_default(call_default_factory=True)
    )
    return [entry if isinstance(entry, str) else entry["name"] for entry in listed]


def preference_of(
    point: Path, asked: str | None, arms: dict, candidates: list[str] | None
) -> list[str] | None:
    """The order of preference the point is judged with (None: by dev gain). `asked` is `--prefer`: names,
    `dev-gain`, `listed` (the candidates' order) or None (the point's own rule). Where the order is the
    candidates', `--candidates` gives it when set."""
    if asked == "dev-gain":
        return None
    if asked is None or asked == "listed":
        own = recorded_order(point)  # the point's config.yaml, read once
        if asked is None and own is None:
            return None
        return candidates or own or [n for n, a in arms.items() if a.candidate]
    order = asked.split(",")
    unknown = [name for name in order if name not in arms]
    if unknown:
        raise SystemExit(
            f"{point}: --prefer names {', '.join(unknown)}, which it did not train "
            "(--prefer takes arm names, listed or dev-gain)"
        )
    return order


def shipped(metrics: RunMetrics, rule: str, preference: list[str] | None) -> tuple[str, str | None]:
    """The arm `rule` ships on this point and how dev confirmed it."""
    name, how = winner(metrics.arms, rule, preference)
    return (name, how) if name is not None else (BASELINE, None)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("points", type=Path, nargs="+", help="curve points (fraction-F/seed-S)")
    parser.add_argument("--candidates", help="comma-separated arms judged as candidates (default: the run's)")
    parser.add_argument(
        "--prefer",
        help="comma-separated order of preference, listed (the candidates' order) or dev-gain "
        "(default: each point's own rule)",
    )
    args = parser.parse_args()
    candidates = args.candidates.split(",") if args.candidates else None
    allowed = set(candidates) if candidates else None
    by_fraction: dict[str, list[Path]] = {}
    for point in args.points:
        by_fraction.setdefault(point.parent.name.removeprefix("fraction-"), []).append(point)
    print(
        "| fraction | seed | rule | shipped | how | dev accuracy gain | dev likelihood (nats) | test gain |"
    )
    print("|---|---|---|---|---|---|---|---|")
    summary = []
    for fraction, points in sorted(by_fraction.items(), key=lambda item: float(item[0])):
        for rule in RULES:
            base, chosen, gains, students = [], [], [], 0
            for point in points:
                layout = RunLayout(point)
                metrics = RunMetrics.read(layout.metrics)
                if allowed is not None:
                    arms = {
                        n: a.model_copy(update={"candidate": n in allowed}) for n, a in metrics.arms.items()
                    }
                    metrics = metrics.model_copy(update={"arms": arms})
                if rule != "accuracy" and not any(a.gain_dev_likelihood for a in metrics.arms.values()):
                    continue
                preference = preference_of(point, args.prefer, metrics.arms, candidates)
                name, how = shipped(metrics, rule, preference)
                base.append(Evaluation.read(layout.arm_eval(BASELINE)).per_question)
                chosen.append(Evaluation.read(layout.arm_eval(name)).per_question)
                gain = 0.0 if name == BASELINE else metrics.arms[name].gain_test.diff
                # the figures of what was shipped, or of the best candidate when the baseline was
                judged = [a for n, a in metrics.arms.items() if n != BASELINE and a.candidate and a.gain_dev]
                best = max(judged, key=lambda a: a.gain_dev.diff, default=None)
                arm = metrics.arms[name] if name != BASELINE else best
                gains.append(gain)
                students += name != BASELINE
                dev = f"{arm.gain_dev.diff:+.2f}" if arm and arm.gain_dev else ""
                ll = arm.gain_dev_likelihood if arm else None
                likelihood = ll.in_nats().removesuffix(" nats") if ll else ""
                print(
                    f"| {fraction} | {point.name.removeprefix('seed-')} | {rule} | {name} | {how or ''} | "
                    f"{dev} | {likelihood} | {gain:+.2f} |"
                )
            if not gains:
                continue
            interval = seed_aware_gain(base, chosen)
            summary.append(
                f"| {fraction} | {rule} | {len(gains)} | {students} | {interval['diff']:+.2f} "
                f"[{interval['ci_low']:+.2f}, {interval['ci_high']:+.2f}] | {min(gains):+.2f} |"
            )
    print("\n| fraction | rule | seeds | students shipped | shipped gain [95% CI, seeds and test] | worst |")
    print("|---|---|---|---|---|---|")
    print("\n".join(summary))


if __name__ == "__main__":
    main()
