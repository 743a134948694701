"""Answering with vLLM (evaluation and the round-trip filter) on a tiny Idefics3 student, beside
transformers. Marked `vllm`: runs in `make test-vllm`'s venv, deselected where vLLM is not installed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from conftest import draw, make_dataset  # noqa: E402
from test_models_vlm import build_idefics3, chat_tokenizer  # noqa: E402

from seltda.core.images import load_image  # noqa: E402
from seltda.core.records import read_records, write_records  # noqa: E402
from seltda.models.vllm_llm import VllmAnswerer  # noqa: E402
from seltda.stages.evaluate import EvaluateConfig, evaluate  # noqa: E402
from seltda.stages.pseudolabel.shard import RoundTrip  # noqa: E402
from seltda.stages.student import train_student  # noqa: E402
from seltda.stages.student_config import StudentConfig  # noqa: E402

__all__ = ["chat_tokenizer"]  # the session fixture this module uses
pytestmark = pytest.mark.vllm

MAX_PIXELS = 24 * 24


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory, chat_tokenizer: Path) -> dict:
    """A tiny Idefics3 fine-tuned 30 steps by the student stage, and its 24 training questions."""
    torch.manual_seed(0)
    base = build_idefics3(tmp_path_factory.mktemp("idefics3"), chat_tokenizer)
    root = tmp_path_factory.mktemp("data")
    records = make_dataset(root, count=12)
    write_records(root / "train.jsonl", records)
    settings = dict(max_steps=30, batch_size=8, learning_rate=1e-2, save_steps=1000, synthetic_ratio=0)
    train_student([root / "train.jsonl"], root, root / "student", StudentConfig(model=str(base), **settings))
    return {"student": str(root / "student"), "root": root, "data": root / "train.jsonl"}


def test_vllm_answers_are_the_transformers_answers(student: dict):
    results = {
        engine: evaluate(
            student["student"],
            student["data"],
            student["root"],
            None,
            EvaluateConfig(engine=engine, max_pixels=MAX_PIXELS),
        )
        for engine in ("vllm", "hf")
    }
    assert results["vllm"]["engine"] == "vllm" and results["hf"]["engine"] == "hf"
    answers = {
        engine: {p["question_id"]: p["answer"] for p in r["predictions"]} for engine, r in results.items()
    }
    assert len(answers["vllm"]) == len(read_records(student["data"])) == 24
    assert answers["vllm"] == answers["hf"], "greedy answers of one fp32 model, two engines"
    assert any(answers["hf"].values()), "the trained student answers something"
    assert results["vllm"]["accuracy"] == results["hf"]["accuracy"]


def test_auto_answers_with_transformers_on_a_cpu(student: dict):
    result = evaluate(student["student"], student["data"], student["root"], None, EvaluateConfig(limit=2))
    assert result["engine"] == "hf"


def test_the_round_trip_filter_answers_alike_with_either_engine(student: dict):
    records = read_records(student["data"])
    pictures = {r.image: load_image(student["root"] / r.image) for r in records}
    pictures["extra.png"] = draw("triangle", "green", size=48)  # another size: the adapter prepares it
    records.append(records[0].model_copy(update={"image": "extra.png"}))
    answers = {}
    for engine in ("vllm", "hf"):
        roundtrip = RoundTrip.load(student["student"], "cpu", torch.float32, 4, MAX_PIXELS, engine)
        assert isinstance(roundtrip.model, VllmAnswerer) == (engine == "vllm")
        answers[engine] = roundtrip.answer(records, pictures)
    assert answers["vllm"] == answers["hf"]
