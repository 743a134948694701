"""Teacher, baseline and student variants of one labeled split, measured on questions of *unlabeled-pool*
images (easy-VQA knows their answers; the test set is never touched, so settings can be compared here).

Given a run folder of the curve (its `selection/train.jsonl` and `data/unlabeled.txt`), each variant is
trained once into OUT/<name> with the `seltda teacher` / `seltda student` command and the extra options
given after its name, then scored per question type on N pool questions:

    python benchmarks/pool_diagnostic.py RUN OUT teacher:t600:--no-freeze-vision-tower teacher:t600f
    python benchmarks/pool_diagnostic.py RUN OUT student:baseline-f \
        "student:student-f:--synthetic OUT/pl/pseudolabels.jsonl --synthetic-images IMG"

A teacher answers by continuing `Question: <q> Answer:` (the aimed recipe's rule); a student answers as
`seltda evaluate` does. `pseudolabels:NAME:PATH` scores a pseudo-label file against the pool's truth;
`soup:NAME:A,B,...` averages the weights of variants A, B, ... (students of one base model, e.g. two
seeds) into OUT/NAME and scores it as a student. `--by-case` also splits the yes/no questions by attribute
and by whether the image has it (`easyvqa.accuracy_by_case`: "is there a red shape?" when there is one; its
"yes/no" case is the yes/no questions about neither), each case with its question count.
Results accumulate in OUT/results.json (a variant already there is not rerun, nor scored again);
`--per-question` also keeps each model's score per question in OUT/per_question.json (a model scored before
without it is answered again, not retrained), for `dev_statistics.py replicates`.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import subprocess
import sys
from pathlib import Path

from seltda.core.records import read_records
from seltda.demo.easyvqa import accuracy_by_case, image_root, load_split, pseudolabel_accuracy
from seltda.eval.metrics import score_predictions
from seltda.stages.evaluate import EvaluateConfig, predict
from seltda.stages.teacher_answers import teacher_answers


def per_type(records: list, predictions: dict[str, str], truth: list | None = None) -> dict:
    """Accuracy per question type and overall; with `truth` (every pool question, from which each image's
    shape and colour are read) also per yes/no case, under `by_case`."""
    scores = score_predictions(records, predictions)["per_question"]
    kinds: dict[str, list[float]] = {}
    for record in records:
        kinds.setdefault(record.question_type, []).append(scores[record.question_id])
    figures = {kind: round(sum(v) / len(v), 2) for kind, v in sorted(kinds.items())}
    figures |= {"all": round(sum(scores.values()) / len(scores), 2)}
    if truth is not None:
        figures["by_case"] = accuracy_by_case(truth, scores)  # {case: {accuracy, n}}
    return figures


def average_weights(folders: list[Path], out: Path) -> Path:
    """A uniform weight average ("model soup") of models that share one architecture: the first folder's
    files, its floating-point tensors replaced by the mean over the folders."""
    import shutil

    from safetensors.torch import load_file, save_file

    if not (out / "model.safetensors").is_file():
        shutil.copytree(folders[0], out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("checkpoints"))
        states = [load_file(str(folder / "model.safetensors")) for folder in folders]
        soup = {
            key: sum(s[key] for s in states) / len(states) if tensor.is_floating_point() else tensor
            for key, tensor in states[0].items()
        }
        save_file(soup, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, help="a curve point's run folder (fraction-F/seed-S)")
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "variants", nargs="+", help="KIND:NAME[:OPTIONS], KIND = teacher, student, pseudolabels"
    )
    parser.add_argument("--questions", type=int, default=1500, help="pool questions scored (random, seed 0)")
    parser.add_argument("--by-case", action="store_true", help="yes/no split by attribute and presence too")
    parser.add_argument("--per-question", action="store_true", help="keep each model's per-question scores")
    args = parser.parse_args()
    pool = set((args.run / "data" / "unlabeled.txt").read_text().split())
    truth = [r for r in load_split("train") if r.image in pool]
    questions = random.Random(0).sample(truth, min(args.questions, len(truth)))
    root = image_root()
    cases = truth if args.by_case else None
    args.out.mkdir(parents=True, exist_ok=True)
    results_file = args.out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    scores_file = args.out / "per_question.json"
    scores = json.loads(scores_file.read_text()) if scores_file.is_file() else {}
    for variant in args.variants:
        kind, name, *rest = variant.split(":", 2)
        if name in results and (kind == "pseudolabels" or not args.per_question or name in scores):
            continue
        if kind == "pseudolabels":
            results[name] = pseudolabel_accuracy(read_records(Path(rest[0])), truth)
        elif kind == "soup":
            folder = average_weights([args.out / part for part in rest[0].split(",")], args.out / name)
            predictions, _ = predict(str(folder), questions, root, EvaluateConfig())
            results[name] = per_type(questions, predictions, cases)
        else:
            folder = args.out / name
            if not (folder / "seltda_stage.json").is_file():
                command = [
                    sys.executable,
                    "-m",
                    "seltda.cli",
                    kind,
                    "--train",
                    str(args.run / "selection/train.jsonl"),
                ]
                command += ["--images", str(root), "--out", str(folder), "--seed", "0"]
                command += ["--model", "tiny-blip-pretrained"]  # what the curve's runs start from
                subprocess.run(command + shlex.split(rest[0] if rest else ""), check=True)
            if kind == "teacher":
                predictions = teacher_answers(str(folder), questions, root)
            else:
                predictions, _ = predict(str(folder), questions, root, EvaluateConfig())
            results[name] = per_type(questions, predictions, cases)
        if args.per_question and kind != "pseudolabels":
            scores[name] = score_predictions(questions, predictions)["per_question"]
            scores_file.write_text(json.dumps(scores))
        results_file.write_text(json.dumps(results, indent=1))
        print(name, json.dumps(results[name]), flush=True)


if __name__ == "__main__":
    main()
