"""What perfect selection would give: students trained on oracle-checked pseudo-labels (issue 16, easy-VQA).

A diagnostic for the embedded default only: easy-VQA's ground truth says which generated pairs are right,
so it bounds what any judge could add. On a finished point (a curve point with a `grounded` arm), it trains
students with the `grounded` student's settings on:

- `oracle-kept`: `grounded`'s pairs without the wrong ones (a perfect filter after grounding);
- `oracle-fixed`: `grounded`'s pairs with the oracle's answer (a perfect answerer on the same questions);
- `oracle-all`: every parsed teacher pair (before agreement) with the oracle's answer;
- `probed`: `grounded`'s pairs that the `probed` recipe's attribute probes keep (`orchestrate/probe.py`,
  the point's baseline as judge): what the product's own judge recovers of the oracle's gain.

Pairs whose question is outside easy-VQA's templates or has a false premise are dropped. Students go to
`OUT/<seed>/<arm>/student`, their test evaluations beside; a rerun resumes.

    OMP_NUM_THREADS=1 python benchmarks/oracle_selection.py runs/c44x/fraction-0.02/seed-0 --out runs/oracle
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from seltda.core.records import Record, read_records, write_records
from seltda.demo.easyvqa import accuracy_by_case, image_attributes, load_split, record_truth
from seltda.eval.question_types import TypeIndex
from seltda.orchestrate.probe import probed
from seltda.orchestrate.recipes import resolve_recipe
from seltda.stages.evaluate import EvaluateConfig, evaluate
from seltda.stages.student import train_student
from seltda.stages.student_config import StudentConfig


def checked(records: list[Record], attributes: dict, fix: bool) -> list[Record]:
    """The answerable pairs: the right ones only, or all with the oracle's answer (`fix`)."""
    out = []
    for record in records:
        verdict = record_truth(record, attributes)
        if verdict is None:
            continue
        _, truth = verdict
        if fix:
            out.append(record.model_copy(update={"answers": [truth]}))
        elif record.majority_answer().strip().lower() == truth:
            out.append(record)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("point", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--arms", nargs="+", default=["oracle-kept", "oracle-fixed", "oracle-all"]
    )  # or probed
    args = parser.parse_args()
    point = args.point
    config = yaml.safe_load((point / "config.yaml").read_text(encoding="utf-8"))
    student = resolve_recipe("grounded").student_config(StudentConfig.model_validate(config["student"]))
    student = student.model_copy(update={"seed": config["seed"]})  # as the pipeline seeds replicate 1
    attributes = image_attributes(load_split("train"))
    grounded = read_records(point / "arms/grounded/pseudolabels/pseudolabels.jsonl")
    parsed = read_records(point / "arms/grounded/pseudolabels/filtered/pseudolabels.jsonl")
    sources = {
        "oracle-kept": (grounded, False),
        "oracle-fixed": (grounded, True),
        "oracle-all": (parsed, True),
    }
    test, images = Path(config["test"]), Path(config["images"])
    baseline = json.loads((point / "eval/baseline.json").read_text())
    summary = {"point": str(point), "baseline": baseline["accuracy"], "arms": {}}
    out = args.out / point.name
    for name in args.arms:
        if name == "probed":
            train = read_records(point / "selection/train.jsonl")
            kept, _ = probed(
                point / "baseline", train, images, grounded, images, EvaluateConfig(), TypeIndex(train)
            )
        else:
            records, fix = sources[name]
            kept = checked(records, attributes, fix)
        folder = out / name
        write_records(folder / "pseudolabels.jsonl", kept)
        train_student(
            [point / "selection/train.jsonl"],  # the train part: the arms' training records
            images,
            folder / "student",
            student,
            synthetic_file=folder / "pseudolabels.jsonl",
            synthetic_image_root=images,
        )
        result_file = folder / "test.json"
        if result_file.exists():
            result = json.loads(result_file.read_text())
        else:
            result = evaluate(str(folder / "student"), test, images, result_file, EvaluateConfig(suites=[]))
        by_case = accuracy_by_case(read_records(test), result["per_question"])
        right = checked(kept, attributes, fix=False)
        summary["arms"][name] = {
            "pairs": len(kept),
            "right_pairs": len(right),
            "accuracy": result["accuracy"],
            "gain": round(result["accuracy"] - baseline["accuracy"], 2),
            "by_case": {case: value["accuracy"] for case, value in by_case.items()},
        }
        print(name, summary["arms"][name], flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
