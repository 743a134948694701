"""Hub-ready model cards for the models a run trains (teacher, baseline, student).

The card is a Hugging Face model card (`README.md` with YAML metadata, `huggingface_hub.ModelCard`): the
base model, the data, the SelTDA settings and the measured evidence (accuracy vs the baseline with its
confidence interval, the pseudo-label funnel).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from seltda.core.fileio import atomic_write_text
from seltda.run.artifacts import RunMetrics

ROLES = {
    "teacher": "SelTDA teacher: writes a question and its answers for an image (visual question generation).",
    "baseline": "VQA baseline: fine-tuned on the real labeled records only.",
    "student": "SelTDA student: fine-tuned for VQA on the real records plus the teacher's pseudo-labels.",
}


def _eval_results(name: str, dataset: str, accuracy: float | None) -> list[EvalResult]:
    if accuracy is None:
        return []
    return [
        EvalResult(
            task_type="visual-question-answering",
            dataset_type=dataset,
            dataset_name=dataset,
            metric_type="accuracy",
            metric_name="VQA accuracy",
            metric_value=accuracy,
        )
    ]


def _evidence(metrics: RunMetrics) -> str:
    lines = []
    if metrics.baseline is not None and metrics.seltda is not None and metrics.gain is not None:
        gain = metrics.gain
        lines += [
            "| model | VQA accuracy |",
            "|---|---|",
            f"| baseline (real labels only) | {metrics.baseline.accuracy:.2f} |",
            f"| SelTDA student | {metrics.seltda.accuracy:.2f} |",
            "",
            f"Gain: {gain.diff:+.2f} points, paired bootstrap 95% CI [{gain.ci_low:+.2f}, "
            f"{gain.ci_high:+.2f}] on {gain.n_common} test questions.",
        ]
    funnel = metrics.pseudolabels.funnel
    if funnel:
        lines += ["", "Pseudo-label funnel: " + " -> ".join(f"{k} {v}" for k, v in funnel.items()) + "."]
    truth = metrics.pseudolabels.accuracy_vs_truth
    if truth:
        lines += [f"Pseudo-labels correct against the ground truth: {truth['accuracy']:.1f}%."]
    return "\n".join(lines) or "No evaluation was run."


def write_model_card(
    model_dir: Path,
    role: str,
    base_model: str,
    dataset: str,
    settings: dict[str, Any],
    metrics: RunMetrics | dict[str, Any],
) -> Path:
    """Write `model_dir/README.md`; returns its path. `metrics`: the run's (or what `metrics.json` holds)."""
    metrics = RunMetrics.model_validate(metrics)
    scores = {"baseline": metrics.baseline, "student": metrics.seltda}.get(role)
    accuracy = scores.accuracy if scores is not None else None
    data = ModelCardData(
        base_model=base_model if "/" in base_model and not Path(base_model).exists() else None,
        datasets=[dataset],
        library_name="transformers",
        pipeline_tag="visual-question-answering" if role != "teacher" else "image-to-text",
        tags=["seltda", "self-training", "vqa", role],
        model_name=f"seltda-{role}",
        eval_results=_eval_results(f"seltda-{role}", dataset, accuracy),
        seltda={"role": role, "base_model": base_model, "settings": settings},
    )
    body = "\n\n".join(
        [
            f"# seltda {role}",
            ROLES[role],
            f"Trained with seltda (SelTDA, Self-Taught Data Augmentation, arXiv 2306.03932) "
            f"from `{base_model}` on `{dataset}`.",
            "## Evidence\n\n" + _evidence(metrics),
            "## Settings\n\n```yaml\n" + "\n".join(f"{k}: {v}" for k, v in settings.items()) + "\n```",
        ]
    )
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n")
    path = Path(model_dir) / "README.md"
    atomic_write_text(path, str(card))
    return path
