"""The teacher's answers to given questions: the BLIP text decoder continues `Question: <q> Answer:`, a chat
VLM its assistant turn pre-filled with it (see tests/models/test_models_vlm.py for the chat families)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from conftest import make_dataset
from PIL import Image

from seltda.core.records import write_records
from seltda.models import load_adapter, load_vqg
from seltda.qa_text import first_answer
from seltda.stages.teacher import train_teacher
from seltda.stages.teacher_answers import teacher_answers
from seltda.stages.teacher_config import TeacherConfig

FIXED = {"shape": "circle", "color": "blue"}  # every answer of a question type, whatever the image


@pytest.fixture(scope="module")
def fixed_teacher(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> dict:
    """A tiny teacher overfit on records whose shape questions are all answered 'circle' and whose
    color questions are all answered 'blue': what it answers depends on the question it is given."""
    root = tmp_path_factory.mktemp("fixed-answers")
    records = [
        r.model_copy(update={"answers": [FIXED[r.question_type]] * 10}) for r in make_dataset(root, count=4)
    ]
    write_records(root / "train.jsonl", records)
    cfg = TeacherConfig(
        model=str(tiny_model), max_steps=40, batch_size=8, learning_rate=5e-3, save_steps=1000, seed=0
    )
    train_teacher(root / "train.jsonl", root, root / "teacher", cfg)
    return {"root": root, "records": records, "teacher": str(root / "teacher")}


def test_the_teacher_answers_the_question_it_is_given(fixed_teacher: dict):
    records = fixed_teacher["records"]
    answers = teacher_answers(fixed_teacher["teacher"], records, fixed_teacher["root"], batch_size=3)
    assert answers == {r.question_id: FIXED[r.question_type] for r in records}


def test_one_deterministic_answer_per_question_batched_as_one_by_one(tiny_model: Path, dataset: dict):
    """An untrained teacher: arbitrary text, the same across calls and batch sizes (rows are left-padded
    to the longest question; padding changes nothing)."""
    records = dataset["records"][:6] + [
        dataset["records"][0].model_copy(
            update={"question_id": "long", "question": "what color is the big dark circle on the left?"}
        )
    ]
    first = teacher_answers(str(tiny_model), records, dataset["root"], batch_size=7)
    assert set(first) == {r.question_id for r in records}
    assert all(isinstance(answer, str) for answer in first.values())
    assert teacher_answers(str(tiny_model), records, dataset["root"], batch_size=7) == first
    assert teacher_answers(str(tiny_model), records, dataset["root"], batch_size=1) == first


def test_the_adapter_continues_the_prompt(fixed_teacher: dict):
    """`teacher_answer` itself: the shape question answered 'circle', the color question 'blue', in one
    batch of different question lengths; the first answer counts, and none parsed is ''."""
    adapter = load_adapter(fixed_teacher["teacher"])
    model = load_vqg(fixed_teacher["teacher"]).eval()
    shape, color = fixed_teacher["records"][:2]
    image = Image.open(fixed_teacher["root"] / shape.image)
    pixels = adapter.prepare_images([image, image])
    assert adapter.teacher_answer(model, pixels, [shape.question, color.question]) == ["circle", "blue"]
    assert first_answer(shape.question, " circle,round") == "circle"
    assert first_answer(shape.question, " , ") == ""


def test_unreadable_images_are_skipped_and_counted(tiny_model: Path, dataset: dict):
    records = dataset["records"][:4]
    (dataset["root"] / records[0].image).write_bytes(b"not an image")
    missing = records[2].model_copy(update={"question_id": "gone", "image": "images/missing.png"})
    skipped: Counter = Counter()
    answers = teacher_answers(str(tiny_model), [*records, missing], dataset["root"], skipped=skipped)
    assert set(answers) == {r.question_id for r in records[2:]}
    assert skipped == Counter({"not_an_image": 2, "missing": 1})
