"""The `agreed` arm refit on train + dev: with the selection's pairs, or with pairs agreed again by the refit
baseline (issue 16: what refitting does to a shipped student).

The pipeline's refit trains the shipped arm again on train + dev with the pseudo-labels it was chosen with;
for `agreed` those are the pairs the *train-only* baseline answered alike. The refit baseline, trained on
train + dev, is the refit's reference, and may agree with other pairs. For each finished curve point, this
trains the refit `agreed` student both ways (the first way is read from `refit/agreed/` when the run shipped
`agreed`) and scores both on test against the run's refit baseline:

    OMP_NUM_THREADS=1 python benchmarks/refit_agreement.py runs/c23/fraction-0.01/seed-{0,1,2,3,4} \
        --out runs/refit-agree23

Resumable: each model is a stage folder under OUT/<seed>/, each evaluation a file beside it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seltda.core.fileio import atomic_write_json
from seltda.core.records import read_records, write_records
from seltda.demo.easyvqa import image_root
from seltda.eval.intervals import seed_aware_gain
from seltda.eval.question_types import TypeIndex
from seltda.models.registry import resolve_model
from seltda.orchestrate.agree import agreed, baseline_answers
from seltda.run.artifacts import Evaluation
from seltda.stages.evaluate import EvaluateConfig, evaluate
from seltda.stages.student import train_student
from seltda.stages.student_config import StudentConfig


def scored(model: Path, test: Path, root: Path, out: Path) -> Evaluation:
    if not out.is_file():
        evaluate(str(model), test, root, out, EvaluateConfig())
    return Evaluation.read(out)


def measure(point: Path, out: Path, test: Path, model: str) -> dict[str, Evaluation]:
    root = image_root()
    out.mkdir(parents=True, exist_ok=True)
    arm = point / "arms/agreed"
    stage = json.loads((arm / "student/seltda_stage.json").read_text())
    cfg = StudentConfig(**(stage["config"] | {"model": str(resolve_model(model))}))
    records = point / "refit/train.jsonl"
    source = arm / "pseudolabels/filtered/pseudolabels.jsonl"
    pairs = read_records(source)
    answers = baseline_answers(point / "refit/baseline", pairs, root, EvaluateConfig(), out / "answers.json")
    again, summary = agreed(pairs, answers, TypeIndex(read_records(records)))
    atomic_write_json(out / "agree.json", summary)
    if not (out / "reagreed.jsonl").is_file():
        write_records(out / "reagreed.jsonl", again)
    shipped = point / "refit/agreed"
    models = {"selection's pairs": shipped if shipped.is_dir() else out / "refit-selection-pairs"}
    models["pairs agreed by the refit baseline"] = out / "refit-reagreed"
    synthetic = {
        "selection's pairs": arm / "pseudolabels/pseudolabels.jsonl",
        "pairs agreed by the refit baseline": out / "reagreed.jsonl",
    }
    results = {"refit baseline": scored(point / "refit/baseline", test, root, out / "eval-baseline.json")}
    for name, folder in models.items():
        train_student([records], root, folder, cfg, synthetic_file=synthetic[name], synthetic_image_root=root)
        results[name] = scored(folder, test, root, out / f"eval-{folder.name}.json")
        print(point.name, name, results[name].accuracy, flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("points", nargs="+", type=Path, help="finished curve points (fraction-F/seed-S)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", default="tiny-blip-pretrained", help="the base model the run started from")
    args = parser.parse_args()
    runs = {}
    for point in args.points:
        test = point.parent.parent / "data/test.jsonl"
        runs[point.name] = measure(point, args.out / point.name, test, args.model)
    names = list(next(iter(runs.values())))
    summary = {"per_seed": {p: {n: e.accuracy for n, e in r.items()} for p, r in runs.items()}}
    for name in names[1:]:
        gain = seed_aware_gain(
            [r["refit baseline"].per_question for r in runs.values()],
            [r[name].per_question for r in runs.values()],
        )
        summary[name] = {k: gain[k] for k in ("diff", "ci_low", "ci_high", "per_replicate", "covers")}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
