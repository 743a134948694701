"""The embedded default dataset: easy-VQA (the `easy-vqa` package), exported to canonical records.

easy-VQA has one answer per question; it is written as ten identical annotator answers, so the official
VQA accuracy equals exact match. Images stay where the package installed them (the image root).
"""

from __future__ import annotations

from pathlib import Path

from seltda.core.records import Record, write_records

SHAPES = {"circle", "rectangle", "triangle"}
COLORS = {"red", "green", "blue", "black", "gray", "teal", "yellow", "brown"}
YES_NO = {"yes", "no"}


def image_root() -> Path:
    """The folder holding easy-VQA's `train/images` and `test/images`."""
    import easy_vqa

    return Path(easy_vqa.__file__).parent / "data"


def question_type(answer: str) -> str:
    if answer in YES_NO:
        return "yes/no"
    return "shape" if answer in SHAPES else "color"


def load_split(split: str) -> list[Record]:
    """easy-VQA's `train` or `test` questions as records."""
    import easy_vqa

    questions, answers, image_ids = (
        easy_vqa.get_train_questions() if split == "train" else easy_vqa.get_test_questions()
    )
    records = []
    for index, (question, answer, image_id) in enumerate(zip(questions, answers, image_ids, strict=True)):
        kind = question_type(answer)
        image = f"{split}/images/{image_id}.png"
        shapes, colors, negated = _mentions(question)
        records.append(
            Record(
                question_id=f"easyvqa-{split}-{index}",
                image=image,
                question=question,
                answers=[answer] * 10,
                question_type=kind,
                answer_type="yes/no" if kind == "yes/no" else "other",
                group_id=rephrasing_group(image, question),
                flags=["negation"] if negated else [],
            )
        )
    return records


def rephrasing_group(image: str, question: str) -> str:
    """Questions about one image with the same meaning in other words share a group (rephrasing suite).

    What-questions ask for the shape or the color; yes/no questions are the same when they mention the
    same attributes with the same negation ("is there a red shape?", "is a red shape present?").
    """
    shapes, colors, negated = _mentions(question)
    if question.lower().startswith("what"):
        meaning = "what-color" if "color" in question.lower() else "what-shape"
    else:
        meaning = f"{'not ' if negated else ''}{' '.join(sorted(shapes | colors))}"
    return f"{image}|{meaning}"


def export(out_dir: Path) -> dict[str, Path]:
    """Write `train.jsonl` and `test.jsonl` into `out_dir`; returns their paths and the image root."""
    out_dir = Path(out_dir)
    paths = {"image_root": image_root()}
    for split in ("train", "test"):
        paths[split] = out_dir / f"{split}.jsonl"
        if not paths[split].exists():
            write_records(paths[split], load_split(split))
    return paths


def _mentions(question: str) -> tuple[set[str], set[str], bool]:
    words = set(question.lower().replace("?", " ").split())
    return words & SHAPES, words & COLORS, bool(words & {"not", "no"})


def image_attributes(records: list[Record]) -> dict[str, dict[str, str]]:
    """Each image's shape and color, read from its ground-truth questions (one shape per easy-VQA image).

    What-questions give an attribute directly; yes/no answers confirm one or rule one out (a shape is
    known once the other two are ruled out).
    """
    present: dict[str, dict[str, str]] = {}
    absent: dict[str, set[str]] = {}
    for record in records:
        answer = record.answers[0]
        attributes = present.setdefault(record.image, {})
        if answer in SHAPES or answer in COLORS:
            attributes["shape" if answer in SHAPES else "color"] = answer
            continue
        shapes, colors, negated = _mentions(record.question)
        if (answer == "yes") != negated:
            for key, mentioned in (("shape", shapes), ("color", colors)):
                if len(mentioned) == 1:
                    attributes[key] = next(iter(mentioned))
        elif len(shapes) + len(colors) == 1:
            absent.setdefault(record.image, set()).update(shapes | colors)
    for image, attributes in present.items():
        for key, values in (("shape", SHAPES), ("color", COLORS)):
            remaining = values - absent.get(image, set())
            if key not in attributes and len(remaining) == 1:
                attributes[key] = remaining.pop()
    return present


def oracle_answer(question: str, shape: str | None, color: str | None) -> tuple[str, str] | None:
    """(question type, true answer) for a question in easy-VQA's templates, given the image's attributes.

    Yes/no: the mentioned shape and/or color are present, flipped by "not"/"no". What-questions: the
    shape or the color, when the attributes they mention hold. None when the premise is false, the
    question is outside the templates, or an attribute it needs is unknown.
    """
    shapes, colors, negated = _mentions(question)
    if (shapes and shape is None) or (colors and color is None):
        return None
    if question.lower().startswith("what"):
        if shapes - {shape} or colors - {color}:
            return None
        kind, answer = ("color", color) if "color" in question.lower() else ("shape", shape)
        return (kind, answer) if answer is not None else None
    if not shapes and not colors:
        return None
    present = shapes <= {shape} and colors <= {color}
    return "yes/no", "yes" if present != negated else "no"


def record_truth(record: Record, attributes: dict[str, dict[str, str]]) -> tuple[str, str] | None:
    """`oracle_answer` for a record, its image's attributes read from `attributes` (`image_attributes`)."""
    known = attributes.get(record.image, {})
    return oracle_answer(record.question, known.get("shape"), known.get("color"))


def yes_no_case(question: str, shape: str | None, color: str | None) -> str | None:
    """'color present', 'shape absent', ...: what a one-attribute yes/no question asks about the image.

    None for other questions, two-attribute ones, or when the image's attribute is unknown.
    """
    shapes, colors, _ = _mentions(question)
    if question.lower().startswith("what") or len(shapes) + len(colors) != 1:
        return None
    key, mentioned, actual = ("shape", shapes, shape) if shapes else ("color", colors, color)
    if actual is None:
        return None
    return f"{key} {'present' if mentioned == {actual} else 'absent'}"


def accuracy_by_case(records: list[Record], per_question: dict[str, float]) -> dict[str, dict]:
    """Accuracy per question type, with yes/no split by attribute and by whether it is in the image.

    Easy-VQA asks most yes/no questions about an absent color (about 90% of them), so a model that never
    binds the question's color to the image scores ~90% on them; this split shows it.
    """
    attributes = image_attributes(records)
    scores: dict[str, list[float]] = {}
    for record in records:
        if record.question_id not in per_question:
            continue
        known = attributes.get(record.image, {})
        case = yes_no_case(record.question, known.get("shape"), known.get("color"))
        label = f"yes/no, {case}" if record.question_type == "yes/no" and case else record.question_type
        scores.setdefault(label or "other", []).append(per_question[record.question_id])
    return {
        label: {"accuracy": round(sum(v) / len(v), 2), "n": len(v)} for label, v in sorted(scores.items())
    }


def pseudolabel_accuracy(synthetic: list[Record], truth: list[Record]) -> dict:
    """Score generated pairs with an oracle that knows each pool image's shape and color.

    Every generated question in easy-VQA's vocabulary gets a true answer from the image's attributes
    (read from its ground-truth questions), not only the questions that happen to match a real one.
    """
    attributes = image_attributes(truth)
    scores: dict[str, list[float]] = {}
    unanswerable = 0
    for record in synthetic:
        verdict = record_truth(record, attributes)
        if verdict is None:
            unanswerable += 1
            continue
        kind, truth_answer = verdict
        correct = float(record.majority_answer().strip().lower() == truth_answer)
        scores.setdefault("all", []).append(correct)
        scores.setdefault(kind, []).append(correct)
    scored = len(scores.get("all", []))
    return {
        "generated": len(synthetic),
        "scored": scored,
        "unanswerable_or_false_premise": unanswerable,
        "accuracy": round(100 * sum(scores.get("all", [])) / max(1, scored), 2),
        "per_question_type": {
            kind: {"accuracy": round(100 * sum(v) / len(v), 2), "n": len(v)}
            for kind, v in sorted(scores.items())
            if kind != "all"
        },
        "share_per_type": {
            kind: round(100 * len(v) / max(1, scored), 2)
            for kind, v in sorted(scores.items())
            if kind != "all"
        },
    }
