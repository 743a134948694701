"""Variants of the `agreed` recipe's pair selection on one curve point, scored against the pool's truth by
case (easy-VQA's oracle knows each pool image's shape and colour), and written as synthetic files for
`pool_diagnostic.py` (pairs of the diagnostic's held pool images removed, so its scores stay clean).

Given a run folder of the curve (`fraction-F/seed-S`, with its `plain` arm's unfiltered pairs, or
`--pairs` another teacher's, and its baseline), and optionally a student trained on the agreed pairs
(round 2's answerer), writes OUT/NAME-x.jsonl and OUT/accuracy.json for:
  agree       the run's baseline answers the teacher's question alike (the `agreed` recipe)
  agree2      the student answers alike instead (a second round of agreement)
  agree3      teacher, baseline and student all answer alike
  agree-tta   agree, and the baseline answers alike on the image flipped both ways and rotated 90 degrees
  agree-topN  agree, and the teacher's own score in the top N% (N = 50, 25) of its answer kind
  agree-marginM  agree, and the baseline's log-likelihood of the answer beats that of every other answer
              of the question's type in the labeled records by M nats or more (M = 1, 3: its confidence)
  agree-pmiT  agree, and the answer is grounded in the image: the baseline's log-likelihood of the answer
              on the pair's own image minus the log of its mean likelihood on 4 other images of the pairs
              (pointwise mutual information of image and answer) above T nats (T = 0, 0.25)

Each variant's accuracy is reported by case twice: `by_case` (yes/no by attribute and true answer) and
`by_presence` (yes/no by attribute and whether the image has it: "is there a red shape?" on a red one is
"color present", whatever the negation).

    python benchmarks/agreement_variants.py runs/c17/fraction-0.02/seed-0 runs/exp-agree3 \
        --student runs/pd18/agree-x-r10
    python benchmarks/pool_diagnostic.py runs/c17/fraction-0.02/seed-0 runs/pd18 \
        "student:agree2-x-r10:--synthetic runs/exp-agree3/agree2-x.jsonl --synthetic-images IMG \
         --synthetic-ratio 10"

Every model's answers are cached in OUT (`answers-NAME.json`, as the agreed recipe caches its
baseline's), so a rerun only scores.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections import Counter
from pathlib import Path

from PIL import Image

from seltda.core.records import Record, read_records, write_records
from seltda.demo.easyvqa import image_attributes, image_root, load_split, oracle_answer, yes_no_case
from seltda.eval.question_types import TypeIndex
from seltda.eval.vqa import normalize_answer
from seltda.orchestrate.agree import agreed, baseline_answers
from seltda.orchestrate.ground import grounding
from seltda.stages.evaluate import EvaluateConfig

SHAPES = ("circle", "rectangle", "triangle")
VIEWS = {"hflip": Image.FLIP_LEFT_RIGHT, "vflip": Image.FLIP_TOP_BOTTOM, "rot90": Image.ROTATE_90}


def transformed_root(pairs: list[Record], root: Path, view: str, out: Path) -> Path:
    """The pairs' images under one view, written once to OUT/images-VIEW."""
    folder = out / f"images-{view}"
    for image in {r.image for r in pairs}:
        target = folder / image
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.open(root / image).convert("RGB").transpose(VIEWS[view]).save(target)
    return folder


def by_case(pairs: list[Record], attributes: dict) -> dict:
    """Accuracy of the pairs' answers per case: colour, shape, yes/no about a colour or a shape by truth."""
    total, right = Counter(), Counter()
    for r in pairs:
        known = attributes.get(r.image, {})
        verdict = oracle_answer(r.question, known.get("shape"), known.get("color"))
        if verdict is None:
            total["unanswerable"] += 1
            continue
        kind, truth = verdict
        if kind == "yes/no":
            kind = f"yes/no {'shape' if any(s in r.question.lower() for s in SHAPES) else 'colour'} {truth}"
        for case in (kind, "all"):
            total[case] += 1
            right[case] += normalize_answer(r.majority_answer()) == truth
    return {
        case: {"n": n, "accuracy": None if case == "unanswerable" else round(100 * right[case] / n, 1)}
        for case, n in sorted(total.items())
    }


def by_presence(pairs: list[Record], attributes: dict) -> dict:
    """Accuracy of the pairs' answers per case, yes/no split by whether the image has the attribute asked
    about (`easyvqa.yes_no_case`)."""
    total, right = Counter(), Counter()
    for r in pairs:
        known = attributes.get(r.image, {})
        verdict = oracle_answer(r.question, known.get("shape"), known.get("color"))
        if verdict is None:
            continue
        kind, truth = verdict
        case = yes_no_case(r.question, known.get("shape"), known.get("color")) if kind == "yes/no" else None
        for label in (f"yes/no, {case}" if case else kind, "all"):
            total[label] += 1
            right[label] += normalize_answer(r.majority_answer()) == truth
    return {case: {"n": n, "accuracy": round(100 * right[case] / n, 1)} for case, n in sorted(total.items())}


def answer_margins(
    model: Path, pairs: list[Record], images: Path, labeled: list[Record], index: TypeIndex, out: Path
) -> dict:
    """Per pair, `model`'s log-likelihood of the pair's answer minus the best of the other answers of its
    question type in the labeled records (cached in OUT/margins.json); pairs whose answer is not among them,
    or whose image cannot be read, get none."""
    cache = out / "margins.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    import torch

    from seltda.stages.evaluate import _transformers_model
    from seltda.stages.image_records import ImageRecords

    answers: dict[str, set[str]] = {}
    for record in labeled:
        answers.setdefault(index.type_of(record), set()).update(normalize_answer(a) for a in record.answers)
    adapter, model_, device = _transformers_model(str(model), EvaluateConfig())
    ask = [r for r in pairs if normalize_answer(r.majority_answer()) in answers.get(index.type_of(r), ())]
    dataset = ImageRecords(ask, images, adapter.prepare_images)
    margins = {}
    with torch.no_grad():
        for start in range(0, len(dataset), 64):
            items = [dataset[i] for i in range(start, min(start + 64, len(dataset)))]
            items = [item for item in items if item is not None]
            if not items:
                continue
            records = [item["record"] for item in items]
            choices = [sorted(answers[index.type_of(r)]) for r in records]
            pixels = adapter.batch_images([item["pixel_values"] for item in items]).to(device)
            rows = adapter.choice_scores(model_, pixels, [r.question for r in records], choices)
            for record, row, options in zip(records, rows, choices, strict=True):
                mine = options.index(normalize_answer(record.majority_answer()))
                others = [v for i, v in enumerate(row) if i != mine]
                margins[record.question_id] = row[mine] - max(others) if others else float("inf")
    cache.write_text(json.dumps(margins))
    return margins


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, help="a curve point's run folder (fraction-F/seed-S)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--student", type=Path, help="a student trained on the agreed pairs (round 2)")
    parser.add_argument("--questions", type=int, default=1500, help="pool_diagnostic's held questions")
    parser.add_argument(
        "--pairs", type=Path, help="unfiltered pairs to select from (default: the run's plain arm's)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    root = image_root()
    pairs = read_records(args.pairs or args.run / "arms/plain/pseudolabels/pseudolabels.jsonl")
    pool = set((args.run / "data/unlabeled.txt").read_text().split())
    truth = [r for r in load_split("train") if r.image in pool]
    held = {r.image for r in random.Random(0).sample(truth, min(args.questions, len(truth)))}
    attributes = image_attributes(truth)

    labeled = read_records(args.run / "selection/train.jsonl")
    index = TypeIndex(labeled)

    def answers(model: Path, images: Path, name: str) -> dict[str, str]:
        """`model`'s answers to the pairs' questions (the agreed recipe's own cached answering)."""
        return baseline_answers(model, pairs, images, EvaluateConfig(), args.out / f"answers-{name}.json")

    def agreeing(kept: list[Record], answered: dict[str, str]) -> list[Record]:
        return agreed(kept, answered, index)[0]  # the agreed recipe's own rule

    variants = {"agree": agreeing(pairs, answers(args.run / "baseline", root, "baseline"))}
    tta = variants["agree"]
    for view in VIEWS:
        viewed = transformed_root(pairs, root, view, args.out)
        tta = agreeing(tta, answers(args.run / "baseline", viewed, f"baseline-{view}"))
    variants["agree-tta"] = tta
    for top in (50, 25):
        kept = []
        for yes_no in (True, False):
            group = [r for r in variants["agree"] if (r.majority_answer() in ("yes", "no")) == yes_no]
            scores = sorted(r.provenance.score for r in group)
            if scores:
                cut = scores[int((1 - top / 100) * len(scores))]
                kept += [r for r in group if r.provenance.score >= cut]
        variants[f"agree-top{top}"] = kept
    margins = answer_margins(args.run / "baseline", variants["agree"], root, labeled, index, args.out)
    for margin in (1, 3):
        variants[f"agree-margin{margin}"] = [
            r for r in variants["agree"] if margins.get(r.question_id, -1.0) >= margin
        ]
    # the grounded recipe's own scores (orchestrate/ground.py): 4 other pool images, seed 0
    pmi = grounding(args.run / "baseline", variants["agree"], root, EvaluateConfig(), args.out / "pmi.json")
    for threshold in (0, 0.25):
        variants[f"agree-pmi{threshold}"] = [
            r for r in variants["agree"] if pmi.get(r.question_id, -math.inf) > threshold
        ]
    if args.student:
        student = answers(args.student, root, "student")
        variants["agree2"] = agreeing(pairs, student)
        variants["agree3"] = agreeing(variants["agree"], student)
    report = {}
    for name, kept in variants.items():
        report[name] = {
            "pairs": len(kept),
            "of": len(pairs),
            "by_case": by_case(kept, attributes),
            "by_presence": by_presence(kept, attributes),
        }
        write_records(args.out / f"{name}-x.jsonl", [r for r in kept if r.image not in held])
        print(name, json.dumps(report[name]), flush=True)
    (args.out / "accuracy.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
