"""Hub-ready model cards for the models a run trains (teacher, baseline, student).

The card is a Hugging Face model card (`README.md` with YAML metadata, `huggingface_hub.ModelCard`): the
base model, the data, the SelTDA settings and the measured evidence (accuracy vs the baseline with its
confidence interval, the pseudo-label funnel).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from seltda.core.fileio import atomic_write_text
from seltda.report.inputs import metric_label, metric_name
from seltda.run.artifacts import Evaluation, RunMetrics, Scores
from seltda.run.layout import RunLayout

ROLES = {
    "teacher": "SelTDA teacher: writes a question and its answers for an image (visual question generation).",
    "baseline": "VQA baseline: fine-tuned on the real labeled records only.",
    "student": "SelTDA student: fine-tuned for VQA on the real records plus the teacher's pseudo-labels.",
}


def hub_id(model: str) -> str | None:
    """`model` when it names a Hub repository (``owner/name``), None for a local folder or anything else:
    the card's `base_model` must be a Hub id (huggingface_hub's `ModelCardData` convention)."""
    if "/" not in model or Path(model).exists():
        return None
    try:
        validate_repo_id(model)
    except HFValidationError:
        return None
    return model


def measured_on(model_dir: Path, role: str) -> str | None:
    """The test records a run's model was evaluated on (its evaluation's `data`), when `model_dir` is a
    trained folder of a run whose evaluation of that role exists."""
    layout = RunLayout(Path(model_dir).parent)
    evaluation = {"baseline": layout.baseline_eval, "student": layout.student_eval}.get(role)
    if layout.trained().get(role) != Path(model_dir) or evaluation is None or not evaluation.is_file():
        return None
    return Evaluation.read(evaluation).data


def _eval_results(scores: Scores | None, test_data: str | None) -> list[EvalResult]:
    """The test-set results of the card's model, filed under the test records they were measured on."""
    if scores is None or test_data is None:
        return []
    common = {
        "task_type": "visual-question-answering",
        "dataset_type": test_data,
        "dataset_name": Path(test_data).name,
        "dataset_split": "test",
    }
    results = [
        EvalResult(
            **common,
            metric_type=metric_name(scores.metric),
            metric_name=metric_label(scores.metric),
            metric_value=scores.accuracy,
        )
    ]
    if scores.exact_match is not None and metric_name(scores.metric) != "exact":
        results.append(
            EvalResult(
                **common,
                metric_type="exact_match",
                metric_name="exact match",
                metric_value=scores.exact_match,
            )
        )
    return results


def _evidence(metrics: RunMetrics) -> str:
    lines = []
    if metrics.baseline is not None and metrics.seltda is not None and metrics.gain is not None:
        gain = metrics.gain
        lines += [
            f"| model | {metric_label(metrics.seltda.metric)} |",
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


def _shipped(model_dir: Path, metrics: RunMetrics) -> str | None:
    """Whether this model is the one the run shipped, and the verdict that says why."""
    if metrics.verdict is None:
        return None
    shipped = metrics.shipped
    if shipped is not None and Path(shipped.model).resolve() == Path(model_dir).resolve():
        head = f"**This is the model seltda shipped for this run** (arm `{shipped.arm}`)."
    elif shipped is not None:
        head = f"This model is not the one seltda shipped: that is `{shipped.model}` (arm `{shipped.arm}`)."
    else:
        head = "seltda shipped no model for this run."
    lines = [head, f"Verdict: {metrics.verdict}."]
    for name, arm in (metrics.arms or {}).items():
        gain = arm.gain_dev
        dev = f"{arm.dev:.2f}" if arm.dev is not None else "n/a"
        test = f"{arm.test:.2f}" if arm.test is not None else "n/a"
        text = f"- `{name}`: dev {dev}, test {test}"
        if gain is not None:
            text += f"; dev gain {gain.diff:+.2f} [{gain.ci_low:+.2f}, {gain.ci_high:+.2f}]"
        if (ll := arm.gain_dev_likelihood) is not None:
            text += f"; dev answer likelihood {ll.in_nats()}"
        lines.append(text)
    return "\n".join(lines)


def write_model_card(
    model_dir: Path,
    role: str,
    base_model: str,
    dataset: str,
    settings: dict[str, Any],
    metrics: RunMetrics | dict[str, Any],
    test_data: str | None = None,
) -> Path:
    """Write `model_dir/README.md`; returns its path. `metrics`: the run's (or what `metrics.json` holds).

    `dataset` is the training records; the card's `model-index` files the role's test accuracy under
    `test_data` (the test records it was measured on; default: the run's evaluation of the role says
    which), and has none when that is unknown.
    """
    metrics = RunMetrics.model_validate(metrics)
    test_data = test_data if test_data is not None else measured_on(Path(model_dir), role)
    scores = {"baseline": metrics.baseline, "student": metrics.seltda}.get(role)
    data = ModelCardData(
        base_model=hub_id(base_model),
        datasets=[dataset],
        library_name="transformers",
        pipeline_tag="visual-question-answering" if role != "teacher" else "image-to-text",
        tags=["seltda", "self-training", "vqa", role],
        model_name=f"seltda-{role}",
        eval_results=_eval_results(scores, test_data) or None,
        seltda={"role": role, "base_model": base_model, "settings": settings},
    )
    body = "\n\n".join(
        [
            f"# seltda {role}",
            ROLES[role],
            f"Trained with seltda (SelTDA, Self-Taught Data Augmentation, arXiv 2306.03932) "
            f"from `{base_model}` on `{dataset}`"
            + (f", evaluated on `{test_data}`." if test_data is not None else "."),
            "## Evidence\n\n" + _evidence(metrics),
            *([f"## Shipped?\n\n{shipped}"] if (shipped := _shipped(Path(model_dir), metrics)) else []),
            "## Settings\n\n```yaml\n" + "\n".join(f"{k}: {v}" for k, v in settings.items()) + "\n```",
        ]
    )
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n")
    path = Path(model_dir) / "README.md"
    atomic_write_text(path, str(card))
    return path
