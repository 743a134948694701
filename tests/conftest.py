"""Shared fixtures: a tiny image dataset in the canonical format and a tiny BLIP, both in temp folders."""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# precision probes cache here, never in the user's cache (subprocesses inherit it)
os.environ["SELTDA_CACHE_DIR"] = tempfile.mkdtemp(prefix="seltda-test-cache-")

import torch  # noqa: E402

from seltda.core.records import Provenance, Record, write_records  # noqa: E402
from seltda.models.tiny_blip import TinyBlipConfig, build_tiny_blip  # noqa: E402
from seltda.qa_text import format_target  # noqa: E402

COLORS = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 180, 30)}
SHAPES = ["circle", "rectangle"]
TINY = TinyBlipConfig(
    image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2
)


def draw(shape: str, color: str, size: int = 32) -> Image.Image:
    image = Image.new("RGB", (size, size), "white")
    pen = ImageDraw.Draw(image)
    box = (6, 6, size - 6, size - 6)
    (pen.ellipse if shape == "circle" else pen.rectangle)(box, fill=COLORS[color])
    return image


def make_dataset(root: Path, count: int = 12) -> list[Record]:
    """`count` images in root/images/ and 2 questions each."""
    records = []
    for i in range(count):
        shape, color = SHAPES[i % 2], list(COLORS)[i % 3]
        name = f"images/{i:03d}.png"
        (root / "images").mkdir(parents=True, exist_ok=True)
        draw(shape, color).save(root / name)
        records.append(
            Record(
                question_id=f"q{i}-shape",
                image=name,
                question="what shape is this?",
                answers=[shape] * 10,
                question_type="shape",
            )
        )
        records.append(
            Record(
                question_id=f"q{i}-color",
                image=name,
                question=f"what color is the {shape}?",
                answers=[color] * 8 + ["dark " + color] * 2,
                question_type="color",
            )
        )
    return records


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `vllm` run only where vLLM is installed (`make test-vllm`'s venv), tests marked `gpu`
    only where CUDA is (`benchmarks/gpu_check.sh`; `SELTDA_GPU_TESTS_ON_CPU=1` runs them on the CPU):
    elsewhere they are deselected (reported as such), not skipped one by one."""
    absent = set()
    if importlib.util.find_spec("vllm") is None:
        absent.add("vllm")
    if not torch.cuda.is_available() and os.environ.get("SELTDA_GPU_TESTS_ON_CPU") != "1":
        absent.add("gpu")
    unmet = [item for item in items if any(item.get_closest_marker(m) is not None for m in absent)]
    if unmet:
        config.hook.pytest_deselected(items=unmet)
        kept = {id(item) for item in items} - {id(item) for item in unmet}
        items[:] = [item for item in items if id(item) in kept]


@pytest.fixture
def dataset(tmp_path: Path) -> dict:
    records = make_dataset(tmp_path)
    write_records(tmp_path / "train.jsonl", records)
    return {"root": tmp_path, "records": records, "train": tmp_path / "train.jsonl"}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny BLIP saved with `save_pretrained` (loads by folder)."""
    folder = tmp_path_factory.mktemp("tiny-blip")
    texts = [format_target(r) for r in make_dataset(tmp_path_factory.mktemp("texts"))]
    return build_tiny_blip(folder, texts, TINY, seed=0)


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> dict:
    """A tiny teacher trained briefly on the tiny dataset: it writes parseable question-answer text."""
    from seltda.stages.teacher import train_teacher
    from seltda.stages.teacher_config import TeacherConfig

    root = tmp_path_factory.mktemp("teacher-data")
    write_records(root / "train.jsonl", make_dataset(root))
    out = root / "teacher"
    cfg = TeacherConfig(
        model=str(tiny_model), max_steps=300, batch_size=8, learning_rate=5e-3, save_steps=1000
    )
    train_teacher(root / "train.jsonl", root, out, cfg)
    return {"root": root, "teacher": out}


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`seltda demo` on easy-VQA at a tiny scale, through the installed entry point (run once per session)."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("demo") / "run"
    command = [
        sys.executable,
        "-m",
        "seltda.cli",
        "demo",
        "--out",
        str(out),
        "--steps",
        "3",
        "--test-limit",
        "60",
        "--pool-limit",
        "16",
        "--per-image",
        "2",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"out": out, "command": command, "stdout": done.stdout}


# ---------------------------------------------------------------------------------- converters' samples

VQA_ANSWERS = ["yes", "yes", "yes", "no", "yes", "yes", "yeah", "yes", "yes", "yes"]


def synthetic_pair(qid: str, image: str, question: str, answer: str) -> Record:
    """A generated question-answer pair as the teacher writes it (one answer, its provenance)."""
    return Record(
        question_id=qid,
        image=image,
        question=question,
        answers=[answer],
        source="synthetic",
        provenance=Provenance(teacher="t"),
    )


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def invoke_convert(*args: object):
    """`seltda convert ARGS` through typer's test runner."""
    from typer.testing import CliRunner

    from seltda.cli.convert import convert_app

    return CliRunner().invoke(convert_app, [str(arg) for arg in args])


def aokvqa_items() -> list[dict]:
    return [
        {
            "split": "val",
            "image_id": 461751,
            "question_id": "22jbM6gDxdaMaunuzgrsBB",
            "question": "What is in the motorcyclist's mouth?",
            "choices": ["toothpick", "food", "popsicle stick", "cigarette"],
            "correct_choice_idx": 3,
            "direct_answers": ["cigarette"] * 9 + ["smoke"],
            "difficult_direct_answer": False,
            "rationales": [
                "He's smoking while riding.",
                "The motorcyclist has a lit cigarette in his mouth while he rides on the street.",
                "The man is smoking.",
            ],
        },
        {
            "split": "val",
            "image_id": 81922,
            "question_id": "2BTXBFzbQ3BEFgqfC7DgW6",
            "question": "Which number birthday is probably being celebrated?",
            "choices": ["one", "ten", "nine", "thirty"],
            "correct_choice_idx": 3,
            "direct_answers": [
                "thirty",
                "30",
                "thirty",
                "thirty",
                "thirty",
                "30",
                "30",
                "thirty",
                "30",
                "30",
            ],
            "difficult_direct_answer": True,
            "rationales": ["The cake says 30.", "There is a 30 on the cake.", "The candles show 30."],
        },
    ]


def tiny_run_config(dataset: dict, base_model: Path, out: Path, **changes):
    """A whole run on the tiny dataset with 2-step training: the shape every pipeline test starts from."""
    from seltda.orchestrate.run_config import RunConfig

    settings = dict(
        out=out,
        train=dataset["train"],
        images=dataset["root"],
        unlabeled_images=dataset["root"] / "images",
        test=dataset["train"],
        model=str(base_model),
        teacher={"max_steps": 2, "batch_size": 4, "save_steps": 1},
        student={"max_steps": 2, "batch_size": 4, "save_steps": 1},
        pseudolabel={"per_image": 2},
    )
    settings.update(changes)
    return RunConfig(**settings)


def run_with_pairs(dataset: dict, base_model: Path, out: Path, **changes):
    """A tiny run whose baseline is `base_model` and whose own pseudo-labels are one generated pair per
    dataset record: (config, layout, pairs), what a recipe's selection starts from."""
    import shutil

    from seltda.run.layout import RunLayout

    cfg = tiny_run_config(dataset, base_model, out, **changes)
    layout = RunLayout(cfg.out)
    shutil.copytree(base_model, layout.baseline)
    pairs = [
        synthetic_pair(f"p{i}", r.image, r.question, r.answers[0]) for i, r in enumerate(dataset["records"])
    ]
    write_records(layout.pseudolabels / "pseudolabels.jsonl", pairs)
    return cfg, layout, pairs


def aokvqa_layout(root: Path, count: int = 6) -> tuple[list[dict], Path]:
    """A tiny A-OKVQA layout: `aokvqa_v1p0_val.json` (every third question difficult_direct_answer) and its
    COCO images under val2017/; returns the items and the records `seltda convert aokvqa` writes."""
    from seltda.formats import convert

    choices = [["red", "blue", "green", "circle"], ["circle", "rectangle", "red circle", "blue rectangle"]]
    items = []
    for index in range(count):
        shape, color = SHAPES[index % 2], list(COLORS)[index % 3]
        image_id = 1000 + index
        (root / "val2017").mkdir(parents=True, exist_ok=True)
        draw(shape, color).save(root / f"val2017/{image_id:012d}.jpg")
        items.append(
            {
                "question_id": f"mc{index}",
                "image_id": image_id,
                "question": "what color is it?" if index % 2 == 0 else f"what shape is the {color} thing?",
                "choices": choices[index % 2],
                "correct_choice_idx": index % 4,
                "direct_answers": [color if index % 2 == 0 else shape] * 10,
                "difficult_direct_answer": index % 3 == 0,
                "rationales": [],
            }
        )
    source = write_json(root / "aokvqa_v1p0_val.json", items)
    convert("aokvqa", root / "val.jsonl", path=source)
    return items, root / "val.jsonl"
