"""The embedded default dataset: easy-VQA (the `easy-vqa` package), exported to canonical records.

easy-VQA has one answer per question; it is written as ten identical annotator answers, so the official
VQA accuracy equals exact match. Images stay where the package installed them (the image root).
"""

from __future__ import annotations

from pathlib import Path

from seltda.records import Record, write_records

SHAPES = {"circle", "rectangle", "triangle"}
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
        records.append(
            Record(
                question_id=f"easyvqa-{split}-{index}",
                image=f"{split}/images/{image_id}.png",
                question=question,
                answers=[answer] * 10,
                question_type=kind,
                answer_type="yes/no" if kind == "yes/no" else "other",
            )
        )
    return records


def export(out_dir: Path) -> dict[str, Path]:
    """Write `train.jsonl` and `test.jsonl` into `out_dir`; returns their paths and the image root."""
    out_dir = Path(out_dir)
    paths = {"image_root": image_root()}
    for split in ("train", "test"):
        paths[split] = out_dir / f"{split}.jsonl"
        if not paths[split].exists():
            write_records(paths[split], load_split(split))
    return paths
