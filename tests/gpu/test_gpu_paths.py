"""The GPU paths, run by `benchmarks/gpu_check.sh` on a CUDA machine (marked `gpu`: deselected where no GPU
is found, tests/conftest.py). `SELTDA_GPU_TESTS_ON_CPU=1` runs them on the CPU, to check the tests
themselves before a GPU is lent.

On a GPU they show: the Trainer trains in bf16 (precision `auto`) on CUDA for BLIP and a chat VLM;
pseudo-labeling samples on CUDA in bf16 chosen without a probe; evaluation answers on CUDA.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from test_models_vlm import build_idefics3, chat_tokenizer  # noqa: E402

from seltda.stages.evaluate import evaluate  # noqa: E402
from seltda.stages.pseudolabel import pseudolabel  # noqa: E402
from seltda.stages.pseudolabel.config import PseudoLabelConfig  # noqa: E402
from seltda.stages.student import train_student  # noqa: E402
from seltda.stages.student_config import StudentConfig  # noqa: E402
from seltda.stages.teacher import train_teacher  # noqa: E402
from seltda.stages.teacher_config import TeacherConfig  # noqa: E402

__all__ = ["chat_tokenizer"]  # the session fixture this module uses
pytestmark = pytest.mark.gpu
CUDA = torch.cuda.is_available()
BF16 = CUDA and torch.cuda.is_bf16_supported()


def _on_gpu_since(mark: int) -> None:
    """On a GPU: CUDA memory was allocated since `mark` (the work ran there, not on the CPU)."""
    if CUDA:
        assert torch.cuda.max_memory_allocated() > mark


def _train(train_fn, cfg_cls, model: str, dataset: dict, out: Path, steps: int) -> dict:
    settings = dict(model=model, max_steps=steps, batch_size=4, save_steps=1000, logging_steps=1)
    metrics = train_fn(dataset["train"], dataset["root"], out, cfg_cls(**settings))
    assert metrics["steps"] == steps
    losses = [v for k, v in metrics.items() if "loss" in k and isinstance(v, float)]
    assert all(math.isfinite(v) for v in losses)
    return metrics


def test_blip_teacher_pseudolabels_student_and_evaluation(tiny_model: Path, dataset: dict, tmp_path: Path):
    mark = torch.cuda.max_memory_allocated() if CUDA else 0
    teacher = tmp_path / "teacher"
    _train(train_teacher, TeacherConfig, str(tiny_model), dataset, teacher, steps=5)
    cfg = PseudoLabelConfig.plain(per_image=2, batch_size=8)
    outcome = pseudolabel(str(teacher), dataset["root"], tmp_path / "pl", cfg)
    assert outcome.status == "merged" and outcome.manifest.funnel["generated"] == 2 * 12
    [choice] = outcome.manifest.precision
    if CUDA:  # a GPU decides without a probe: bf16 where supported
        assert choice.reason == "gpu" and choice.dtype == ("bfloat16" if BF16 else "float16")
    else:
        assert choice.reason in {"probed", "cached"}
    student = tmp_path / "student"
    _train(train_student, StudentConfig, str(tiny_model), dataset, student, steps=5)
    result = evaluate(str(student), dataset["train"], dataset["root"], None)
    questions = len(dataset["records"])
    assert result["n"] == questions and 0 <= result["accuracy"] <= 100
    assert len(result["predictions"]) == questions
    _on_gpu_since(mark)


def test_chat_vlm_teacher_step_and_sampling(chat_tokenizer: Path, dataset: dict, tmp_path: Path):
    mark = torch.cuda.max_memory_allocated() if CUDA else 0
    torch.manual_seed(0)
    base = build_idefics3(tmp_path / "idefics3", chat_tokenizer)
    teacher = tmp_path / "teacher"
    _train(train_teacher, TeacherConfig, str(base), dataset, teacher, steps=2)
    cfg = PseudoLabelConfig.plain(per_image=2, batch_size=4, max_new_tokens=12)
    outcome = pseudolabel(str(teacher), dataset["root"], tmp_path / "pl", cfg)
    assert outcome.status == "merged" and outcome.manifest.funnel["generated"] == 2 * 12
    if CUDA:
        assert outcome.manifest.sampling_dtypes == ["bfloat16" if BF16 else "float16"]
    _on_gpu_since(mark)
