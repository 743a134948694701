"""Two curve folders of the same splits compared arm by arm (issue 16: what a changed setting, such as the
learning rate, does to every model): per seed each arm's test accuracy in both, then over the seeds each
arm's change from A to B and each arm's gain over the baseline within A and within B, with intervals that
include training-seed variance (`eval.intervals.seed_aware_gain`; seeds pair the runs, and a seed's split
is the same in both folders when both were made with the same fraction and seed):

    python benchmarks/compare_curves.py runs/c20 runs/c19 --fraction 0.02 --seeds 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seltda.eval.intervals import seed_aware_gain
from seltda.run.artifacts import Evaluation
from seltda.run.layout import RunLayout


def point(curve: Path, fraction: str, seed: int) -> RunLayout:
    return RunLayout(curve / f"fraction-{fraction}" / f"seed-{seed}")


def interval(a: list[Evaluation], b: list[Evaluation]) -> str:
    gain = seed_aware_gain([e.per_question for e in a], [e.per_question for e in b])
    per_seed = ", ".join(f"{g:+.2f}" for g in gain["per_replicate"])
    return f"{gain['diff']:+.2f} [{gain['ci_low']:+.2f}, {gain['ci_high']:+.2f}] ({per_seed})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("a", type=Path, help="curve folder A (the reference)")
    parser.add_argument("b", type=Path, help="curve folder B")
    parser.add_argument("--fraction", required=True)
    parser.add_argument("--seeds", required=True, help="comma-separated")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    metrics = {
        (curve, seed): json.loads(point(curve, args.fraction, seed).metrics.read_text())
        for curve in (args.a, args.b)
        for seed in seeds
    }
    first = metrics[args.a, seeds[0]]["arms"]  # baseline first, as every run lists its arms
    arms = [arm for arm in first if all(arm in m["arms"] for m in metrics.values())]
    runs = {
        (curve, arm): [Evaluation.read(point(curve, args.fraction, seed).arm_eval(arm)) for seed in seeds]
        for curve in (args.a, args.b)
        for arm in arms
    }
    print(f"| seed | {' | '.join(arms)} | shipped in B |")
    print("|---|" + "---|" * (len(arms) + 1))
    for k, seed in enumerate(seeds):
        pairs = [(runs[args.a, arm][k], runs[args.b, arm][k]) for arm in arms]
        cells = [f"{a.accuracy:.2f} -> {b.accuracy:.2f}" for a, b in pairs]
        print(f"| {seed} | {' | '.join(cells)} | {metrics[args.b, seed]['shipped']['arm']} |")
    print("\n| arm | mean A | mean B | B over A |\n|---|---|---|---|")
    for arm in arms:
        a, b = runs[args.a, arm], runs[args.b, arm]
        mean_a, mean_b = (sum(e.accuracy for e in x) / len(x) for x in (a, b))
        print(f"| {arm} | {mean_a:.2f} | {mean_b:.2f} | {interval(a, b)} |")
    print("\n| gain over the baseline | in A | in B |\n|---|---|---|")
    for arm in arms[1:]:
        within = [interval(runs[c, "baseline"], runs[c, arm]) for c in (args.a, args.b)]
        print(f"| {arm} | {within[0]} | {within[1]} |")


if __name__ == "__main__":
    main()
