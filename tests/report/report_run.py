"""A synthetic finished run folder: every artifact the report reads, images under ``root/images``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

SCRIPT_QUESTION = "<script>alert('pwned')</script> what color is the shape?"
COLORS = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 180, 30)}


def _image(path: Path, color: str, circle: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (32, 32), "white")
    pen = ImageDraw.Draw(image)
    (pen.ellipse if circle else pen.rectangle)((6, 6, 26, 26), fill=COLORS[color])
    image.save(path)


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")


def _arm(accuracy: float, color: float, shape: float) -> dict[str, Any]:
    return {
        "accuracy": accuracy,
        "exact_match": accuracy,
        "n": 4,
        "missing": 0,
        "per_question_type": {
            "color": {"accuracy": color, "exact_match": color, "n": 2},
            "shape": {"accuracy": shape, "exact_match": shape, "n": 2},
        },
        "per_answer_type": {"other": {"accuracy": accuracy, "exact_match": accuracy, "n": 4}},
    }


def _trainer_log(start: float) -> list[dict[str, Any]]:
    log = [
        {"loss": start / (1 + i), "learning_rate": 1e-3, "epoch": i, "step": 10 * (i + 1)} for i in range(5)
    ]
    return [*log, {"train_runtime": 12.5, "train_loss": start / 2, "epoch": 5, "step": 50}]


def _kept(image: str, question: str, answer: str, score: float, index: int) -> dict[str, Any]:
    raw = f"question : {question} answer : {answer}"
    provenance = {"score": score, "sample_index": index, "raw_text": raw}
    qid = f"syn-{image}-{index}"
    record = {"question_id": qid, "image": image, "question": question, "answers": [answer]}
    return dict(record, source="synthetic", provenance=provenance)


def _rejected(image: str, raw_text: str, reason: str, index: int) -> dict[str, Any]:
    return {"image": image, "sample_index": index, "raw_text": raw_text, "score": -3.0, "reason": reason}


def make_run(root: Path, ci: tuple[float, float] = (1.35, 2.53)) -> Path:
    """A finished run folder with every piece the report reads; images under ``root/images``."""
    run, images = root / "run", root / "images"
    pool = [("pool/0.png", "red", True), ("pool/1.png", "blue", False), ("pool/2.png", "green", True)]
    tests = [("test/0.png", "red", True), ("test/1.png", "blue", False)]
    for name, color, circle in pool + tests:
        _image(images / name, color, circle)

    test_records = [
        {"question_id": "q0", "image": "test/0.png", "question": "what color is the circle?",
         "answers": ["red"] * 10, "question_type": "color"},
        {"question_id": "q1", "image": "test/0.png", "question": "what is the red shape?",
         "answers": ["circle"] * 9 + ["oval"], "question_type": "shape"},
        {"question_id": "q2", "image": "test/1.png", "question": "what color is the rectangle?",
         "answers": ["blue"] * 10, "question_type": "color"},
        {"question_id": "q3", "image": "test/1.png", "question": "what is the blue shape?",
         "answers": ["rectangle"] * 10, "question_type": "shape"},
    ]  # fmt: skip
    _jsonl(run / "data" / "test.jsonl", test_records)
    (run / "config.yaml").write_text(
        f"images: {images}\ntest_images: null\nunlabeled_images: null\ntest: {run / 'data' / 'test.jsonl'}\n"
        "seed: 0\nteacher:\n  max_steps: 50\npseudolabel:\n  per_image: 3\nstudent:\n  max_steps: 50\n",
        encoding="utf-8",
    )

    baseline_scores = {"q0": 0.0, "q1": 100.0, "q2": 100.0, "q3": 0.0}
    student_scores = {"q0": 100.0, "q1": 0.0, "q2": 100.0, "q3": 0.0}
    baseline_answers = {"q0": "green", "q1": "circle", "q2": "blue", "q3": "circle"}
    student_answers = {"q0": "red", "q1": "triangle", "q2": "blue", "q3": "circle"}
    for name, scores, answers, acc in (
        ("baseline", baseline_scores, baseline_answers, 50.0),
        ("student", student_scores, student_answers, 50.0),
    ):
        _json(
            run / "eval" / f"{name}.json",
            dict(
                {"model": str(run / name), "data": str(run / "data" / "test.jsonl")},
                **_arm(acc, 50.0, 50.0),
                per_question=scores,
                predictions=[{"question_id": q, "answer": a} for q, a in answers.items()],
            ),
        )
    gain = {
        "diff": 1.94, "ci_low": ci[0], "ci_high": ci[1], "p_value": 0.0, "n": 4, "n_resamples": 10000,
        "confidence": 0.95, "n_common": 4, "accuracy_a": 69.75, "accuracy_b": 71.69,
    }  # fmt: skip
    _json(run / "eval" / "compare.json", gain)

    kept = [
        _kept("pool/0.png", "what color is the circle?", "red", -0.25, 0),
        _kept("pool/0.png", SCRIPT_QUESTION, "red", -0.5, 2),
        _kept("pool/1.png", "is there a rectangle?", "yes", -0.1, 0),
    ]
    rejected = [
        _rejected("pool/0.png", "answer answer <b>garbage</b>", "unparsable", 1),
        _rejected("pool/2.png", "question : what shape? answer :", "empty_answer", 0),
    ]
    _jsonl(run / "pseudolabels" / "pseudolabels.jsonl", kept)
    _jsonl(run / "pseudolabels" / "rejected.jsonl", rejected)
    funnel = {"generated": 9, "parsed": 7, "answer_ok": 6, "deduplicated": 5, "confident": 4, "kept": 3}
    drops = {"unparsable": 2, "empty_answer": 1, "duplicate_question": 1, "low_score": 1, "other": 1}
    _json(
        run / "pseudolabels" / "manifest.json", {"image_root": str(images), "funnel": funnel, "drops": drops}
    )

    for stage, start in (("teacher", 4.0), ("baseline", 3.0), ("student", 3.5)):
        _json(run / stage / "trainer_log.json", _trainer_log(start))

    metrics = {
        "baseline": _arm(69.75, 37.34, 33.73),
        "seltda": _arm(71.69, 51.48, 33.25),
        "gain": gain,
        "pseudolabels": {
            "images": {"listed": 3, "unreadable": {}, "seen": 3},
            "funnel": funnel,
            "drops": drops,
            "accuracy_vs_truth": {
                "generated": 3,
                "scored": 3,
                "accuracy": 66.67,
                "per_question_type": {
                    "color": {"accuracy": 50.0, "n": 2},
                    "yes/no": {"accuracy": 100, "n": 1},
                },
            },
        },
        "timings_seconds": {"teacher": 12.5, "pseudolabel": 3.2, "baseline": 75.0, "student": 3700.0},
        "suites": {
            "easy-vqa": {"baseline": {"accuracy": 69.75, "n": 4}, "seltda": {"accuracy": 71.69, "n": 4}},
            "robustness": {"baseline": {"accuracy": 40.0, "note": "text"}, "seltda": {"accuracy": 42.5}},
        },
    }
    _json(run / "metrics.json", metrics)
    return run
