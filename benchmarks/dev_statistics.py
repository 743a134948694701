"""What a dev split can see: the verdict's statistic (dev accuracy) against likelihood-based ones, and how
much training replicates narrow a dev comparison (issue 16: a verdict that confirms smaller gains).

`runs`: for finished curve points, every arm's model scores each dev question three ways: VQA accuracy of
its greedy answer (what the verdict uses, read from the run), the expected VQA accuracy of its answer
distribution over the run's answer set (every answer of train + dev, normalized; bounded like accuracy but
not 0/1), and the log-likelihood of the question's most common answer (BLIP's `rank_answer` score). For each
statistic, a verdict that ships the candidate whose paired-bootstrap interval lies above 0 (the largest
gain) is applied, and what it ships is scored by the run's recorded *test* gain:

    OMP_NUM_THREADS=1 python benchmarks/dev_statistics.py runs runs/dev-stats \
        runs/c24/fraction-0.01/seed-{0,1,2,3,4,5,6,7,8,9} runs/c20/fraction-0.02/seed-{0,1,2,3,4} \
        runs/c21/fraction-0.05/seed-{0,1,2,3,4} runs/c21/fraction-0.1/seed-{0,1,2,3,4}

`replicates`: per-question scores of several training seeds of a baseline and a student on one split (from
`pool_diagnostic.py --per-question`), and the smallest gain a 160-question comparison confirms 80% of the
time with one replicate per arm, with the baseline averaged over seeds, and with both averaged:

    python benchmarks/dev_statistics.py replicates runs/pd18/per_question.json \
        --baselines baseline-f,baseline-s1 --students agree-x-r10,agree-x-r10-s1

Resumable: each run's scores are one JSON file under OUT.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from seltda.core.fileio import atomic_write_json
from seltda.core.records import read_records
from seltda.demo.easyvqa import image_root
from seltda.eval.bootstrap import paired_bootstrap
from seltda.eval.intervals import detectable_gain
from seltda.eval.vqa import vqa_accuracy
from seltda.models import load_adapter, load_vqa
from seltda.run.artifacts import Evaluation
from seltda.run.layout import RunLayout
from seltda.stages.evaluate import reference_answer
from seltda.stages.image_records import ImageRecords

STATISTICS = ("accuracy", "expected accuracy", "answer log-likelihood")
BATCH = 64


def likelihoods(model_dir: str, records: list, answer_set: list[str]) -> dict[str, dict[str, float]]:
    """Per question: the expected VQA accuracy (x100) of the answer distribution over `answer_set`, and the
    log-likelihood of the most common reference answer."""
    adapter = load_adapter(model_dir)
    model = load_vqa(model_dir).eval()
    dataset = ImageRecords(records, image_root(), adapter.prepare_images)
    scores: dict[str, dict[str, float]] = {}
    for start in range(0, len(dataset), BATCH):
        items = [dataset[i] for i in range(start, min(start + BATCH, len(dataset)))]
        items = [item for item in items if item is not None]
        images = adapter.batch_images([item["pixel_values"] for item in items])
        questions = [item["record"].question for item in items]
        rows = adapter.choice_scores(model, images, questions, [answer_set] * len(items))
        for item, row in zip(items, rows, strict=True):
            record = item["record"]
            probabilities = torch.softmax(torch.tensor(row, dtype=torch.float64), 0).tolist()
            credit = [vqa_accuracy(answer, record.answers) for answer in answer_set]
            common = reference_answer(record.answers)
            expected = math.fsum(p * c for p, c in zip(probabilities, credit, strict=True))
            scores[record.question_id] = {
                "expected accuracy": 100 * expected,
                "answer log-likelihood": row[answer_set.index(common)],
            }
    return scores


def score_run(point: Path, out: Path) -> dict:
    """Each arm's dev gains under every statistic, with its recorded test gain (cached in OUT)."""
    cache = out / f"{point.parent.name}-{point.name}-{point.parent.parent.name}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    layout = RunLayout(point)
    metrics = json.loads(layout.metrics.read_text())
    dev = read_records(layout.selection_dev)
    answer_set = sorted({a for r in read_records(layout.selection_train) + dev for a in r.answers})
    per_arm = {}
    for name, arm in metrics["arms"].items():
        per_question = likelihoods(arm["models"][0], dev, answer_set)
        accuracy = Evaluation.read(layout.arm_eval(name, split="dev")).per_question
        for qid, row in per_question.items():
            row["accuracy"] = accuracy[qid]
        per_arm[name] = per_question
    ids = sorted(per_arm["baseline"])
    result = {"run": str(point), "fraction": point.parent.name.removeprefix("fraction-"), "dev": len(ids)}
    result["arms"] = {}
    for name, arm in metrics["arms"].items():
        if name == "baseline":
            continue
        row = {"candidate": arm["candidate"], "test_gain": arm["gain_test"]["diff"]}
        for statistic in STATISTICS:
            a = [per_arm["baseline"][q][statistic] for q in ids]
            b = [per_arm[name][q][statistic] for q in ids]
            boot = paired_bootstrap(a, b)
            row[statistic] = [round(boot[k], 3) for k in ("diff", "ci_low", "ci_high")]
        result["arms"][name] = row
    atomic_write_json(cache, result)
    return result


def verdict(run: dict, statistic: str) -> tuple[str, float]:
    """The arm a verdict on `statistic` ships (interval above 0, largest gain) and its test gain."""
    winners = {n: a for n, a in run["arms"].items() if a["candidate"] and a[statistic][1] > 0}
    if not winners:
        return "baseline", 0.0
    name = max(winners, key=lambda n: winners[n][statistic][0])
    return name, winners[name]["test_gain"]


def runs_main(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    scored = [score_run(point, args.out) for point in args.points]
    lines = ["| fraction | statistic | runs | students shipped | shipped test gain, mean | worst |"]
    lines.append("|---|---|---|---|---|---|")
    summary = {}
    for fraction in sorted({r["fraction"] for r in scored}, key=float):
        group = [r for r in scored if r["fraction"] == fraction]
        for statistic in STATISTICS:
            shipped = [verdict(r, statistic) for r in group]
            gains = [g for _, g in shipped]
            students = sum(name != "baseline" for name, _ in shipped)
            summary[f"{fraction} {statistic}"] = shipped
            lines.append(
                f"| {fraction} | {statistic} | {len(group)} | {students} | {np.mean(gains):+.2f} | "
                f"{min(gains):+.2f} |"
            )
    atomic_write_json(args.out / "summary.json", {"runs": scored, "shipped": summary})
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def replicates_main(args: argparse.Namespace) -> None:
    scores = json.loads(args.per_question.read_text())
    baselines = [scores[n] for n in args.baselines.split(",")]
    students = [scores[n] for n in args.students.split(",")]
    ids = sorted(baselines[0])
    base = np.array([[s[q] for q in ids] for s in baselines], dtype=np.float64)
    student = np.array([[s[q] for q in ids] for s in students], dtype=np.float64)
    designs = {
        "one replicate per arm": student[0] - base[0],
        f"baseline averaged over {len(base)} seeds": student[0] - base.mean(0),
        f"both averaged over {len(base)} / {len(student)} seeds": student.mean(0) - base.mean(0),
    }
    for design, delta in designs.items():
        se = delta.std(ddof=1) / math.sqrt(args.dev)
        detectable = detectable_gain(-1.96 * se, 1.96 * se)
        confirmed = f"smallest gain {args.dev} questions confirm: {detectable:.2f}"
        print(f"{design}: gain {delta.mean():+.2f}, {confirmed}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    runs = sub.add_parser("runs", help="dev statistics of finished curve points")
    runs.add_argument("out", type=Path)
    runs.add_argument("points", type=Path, nargs="+", help="curve points (fraction-F/seed-S)")
    reps = sub.add_parser("replicates", help="what replicates do to a dev comparison's power")
    reps.add_argument("per_question", type=Path, help="pool_diagnostic.py --per-question output")
    reps.add_argument("--baselines", required=True)
    reps.add_argument("--students", required=True)
    reps.add_argument("--dev", type=int, default=160, help="dev questions of the comparison")
    args = parser.parse_args()
    (runs_main if args.command == "runs" else replicates_main)(args)


if __name__ == "__main__":
    main()
