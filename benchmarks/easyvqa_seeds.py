"""Baseline vs SelTDA (the paper's plain recipe) on easy-VQA over several seeds, plus the full-data model.

Each seed is a complete `seltda demo` run (its own labeled split, teacher, pseudo-labels, baseline and
student) scored on the full 9,673-question test set. Prints per-seed and mean accuracy per question type,
the gain with paired bootstrap 95% CIs (per seed and pooled over seeds), and the pseudo-label accuracy
against easy-VQA's ground truth. Resumable: finished stages are skipped.

    python benchmarks/easyvqa_seeds.py --out runs/bench-seeds --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seltda.core.records import read_records
from seltda.demo import easyvqa
from seltda.demo.run import DemoConfig, demo, pretrained_base
from seltda.eval.metrics import paired_bootstrap
from seltda.models.tiny_blip import build_tiny_blip
from seltda.qa_text import format_target
from seltda.stages.evaluate import evaluate
from seltda.stages.student import train_student
from seltda.stages.student_config import StudentConfig

TYPES = ["yes/no", "color", "shape"]


def full_data_model(out: Path, steps: int, seed: int, base: str | None) -> dict:
    """The VQA model trained on every easy-VQA train question (the ceiling the low-data arms aim at)."""
    paths = easyvqa.export(out / "data")
    train = read_records(paths["train"])
    if base is None:
        base = str(out / "base")
        if not (out / "base" / "config.json").exists():
            build_tiny_blip(out / "base", [format_target(r) for r in train], seed=seed)
    cfg = StudentConfig(model=base, max_steps=steps, save_steps=max(100, steps // 5), seed=seed)
    train_student([paths["train"]], paths["image_root"], out / "model", cfg)
    result_file = out / "eval.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    return evaluate(str(out / "model"), paths["test"], paths["image_root"], result_file)


def row(name: str, result: dict) -> str:
    types = result["per_question_type"]
    return (
        f"| {name} | {result['accuracy']:.2f} | "
        + " | ".join(f"{types[t]['accuracy']:.2f}" for t in TYPES)
        + " |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/bench-seeds"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--full-steps", type=int, default=3000, help="steps of the full-data model (0: skip)")
    parser.add_argument("--base", choices=["scratch", "pretrained"], default="pretrained")
    parser.add_argument("--pretrained-model", type=Path, default=None, help="default: shipped weights")
    args = parser.parse_args()

    runs = {}
    for seed in args.seeds:
        cfg = DemoConfig(
            out=args.out / f"seed{seed}",
            seed=seed,
            labeled_fraction=args.fraction,
            steps=args.steps,
            base=args.base,
            pretrained_model=args.pretrained_model,
            plain_recipe=True,  # the paper's recipe; filters are compared in easyvqa_filters.py
        )
        runs[seed] = demo(cfg)
    diffs_a, diffs_b = [], []
    lines = ["| model | overall | " + " | ".join(TYPES) + " |", "|---|---|---|---|---|"]
    for seed, metrics in runs.items():
        lines.append(row(f"baseline, seed {seed}", metrics["baseline"]))
        lines.append(row(f"SelTDA, seed {seed}", metrics["seltda"]))
        base = json.loads((args.out / f"seed{seed}" / "eval" / "baseline.json").read_text())["per_question"]
        student = json.loads((args.out / f"seed{seed}" / "eval" / "student.json").read_text())["per_question"]
        keys = sorted(base)
        diffs_a += [base[k] for k in keys]
        diffs_b += [student[k] for k in keys]
    mean = {arm: sum(m[arm]["accuracy"] for m in runs.values()) / len(runs) for arm in ("baseline", "seltda")}
    pooled = paired_bootstrap(diffs_a, diffs_b, n_resamples=2000)
    summary = {"args": {k: str(v) for k, v in vars(args).items()}, "mean": mean, "pooled_gain": pooled}
    summary["per_seed"] = {
        seed: {
            "baseline": m["baseline"]["accuracy"],
            "seltda": m["seltda"]["accuracy"],
            "gain": m["gain"],
            "pseudolabels": m["pseudolabels"],
        }
        for seed, m in runs.items()
    }
    if args.full_steps:
        base = None
        if args.base == "pretrained":
            base = pretrained_base(DemoConfig(base="pretrained", pretrained_model=args.pretrained_model))
        full = full_data_model(args.out / "full-data", args.full_steps, seed=0, base=base)
        lines.append(row("all labels (seed 0)", full))
        summary["full_data"] = {k: full[k] for k in ("accuracy", "per_question_type")}
    print("\n".join(lines))
    print(f"\nmean of {len(runs)} seeds: baseline {mean['baseline']:.2f}, SelTDA {mean['seltda']:.2f}")
    print(
        f"gain pooled over seeds: {pooled['diff']:+.2f} points, 95% CI [{pooled['ci_low']:+.2f}, "
        f"{pooled['ci_high']:+.2f}]"
    )
    for seed, m in runs.items():
        truth = m["pseudolabels"]["accuracy_vs_truth"]
        per_type = ", ".join(
            f"{k} {v['accuracy']:.1f} (n={v['n']})" for k, v in truth["per_question_type"].items()
        )
        gain = m["gain"]
        print(
            f"seed {seed}: gain {gain['diff']:+.2f} [{gain['ci_low']:+.2f}, {gain['ci_high']:+.2f}]; "
            f"pseudo-labels {truth['accuracy']:.1f}% correct ({per_type})"
        )
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
