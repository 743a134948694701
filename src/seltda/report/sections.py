"""The report's sections, each built from the run's inputs as plain data for the templates.

A section is `None` when its inputs are missing (the template then says why it is omitted). Plots are
added to `figures` (name -> PNG bytes).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from seltda.report import plots, samples
from seltda.report.arms import verdict
from seltda.report.images import Thumbnails
from seltda.report.inputs import RunInputs, as_dict, metric_label, num, read_inputs

__all__ = ["build_context"]


def build_context(
    run_dir: Path, gallery_size: int = 12, examples: int = 8, seed: int = 0
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The template context (plain data) and the plots (name -> PNG bytes) for ``run_dir``."""
    inputs = read_inputs(Path(run_dir))
    thumbs = Thumbnails()
    figures: dict[str, bytes] = {}
    context: dict[str, Any] = {
        "run_dir": str(inputs.run_dir),
        "run_name": inputs.run_dir.resolve().name,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "headline": headline(inputs),
        "verdict": verdict(inputs),
        "learning_curve": learning_curve(inputs, figures),
        "rounds": rounds(inputs),
        "per_type": per_type(inputs, figures),
        "curves": training_curves(inputs, figures),
        "funnel": funnel(inputs, figures),
        "gallery": samples.gallery(inputs, thumbs, gallery_size, seed),
        "examples": samples.examples(inputs, thumbs, examples, seed),
        "suites": suites(inputs),
        "timings": timings(inputs),
        "config": config_summary(inputs),
    }
    context["problems"] = inputs.problems
    return context, figures


def _arm(inputs: RunInputs, name: str) -> dict[str, Any]:
    """One arm's figures ("baseline" or "seltda"): metrics.json's, else its evaluation file's."""
    scores = getattr(inputs.metrics, name, None)
    if scores is None:
        evaluation = inputs.baseline_eval if name == "baseline" else inputs.student_eval
        scores = evaluation.summary() if evaluation is not None else None
    return scores.model_dump(exclude_unset=True) if scores is not None else {}


def _gain(inputs: RunInputs) -> dict[str, Any]:
    gain = getattr(inputs.metrics, "gain", None) or inputs.compare
    return gain.model_dump(exclude_unset=True) if gain is not None else {}


def headline(inputs: RunInputs) -> dict[str, Any] | None:
    baseline, seltda, gain = _arm(inputs, "baseline"), _arm(inputs, "seltda"), _gain(inputs)
    base_acc, sel_acc = num(baseline.get("accuracy")), num(seltda.get("accuracy"))
    if base_acc is None and sel_acc is None and not gain:
        return None
    diff, low, high = num(gain.get("diff")), num(gain.get("ci_low")), num(gain.get("ci_high"))
    if diff is None and base_acc is not None and sel_acc is not None:
        diff = sel_acc - base_acc
    confidence = num(gain.get("confidence")) or 0.95
    level = f"{100 * confidence:g}%"
    if low is None or high is None:
        verdict, verdict_class = "No confidence interval in this run: the gain is not tested.", "neutral"
    elif low > 0:
        verdict = f"SelTDA beats the baseline: the {level} CI excludes 0."
        verdict_class = "good"
    elif high < 0:
        verdict = f"SelTDA is worse than the baseline: the {level} CI excludes 0."
        verdict_class = "bad"
    else:
        verdict = f"The {level} CI includes 0: not distinguishable from noise."
        verdict_class = "neutral"
    n = num(gain.get("n_common")) or num(gain.get("n")) or num(baseline.get("n")) or num(seltda.get("n"))
    return {
        "baseline": base_acc,
        "seltda": sel_acc,
        "diff": diff,
        "ci_low": low,
        "ci_high": high,
        "confidence": level,
        "p_value": _format_p(num(gain.get("p_value")), num(gain.get("n_resamples"))),
        "n_resamples": num(gain.get("n_resamples")),
        "n": int(n) if n is not None else None,
        "missing_baseline": num(baseline.get("missing")),
        "missing_seltda": num(seltda.get("missing")),
        "exact_baseline": num(baseline.get("exact_match")),
        "exact_seltda": num(seltda.get("exact_match")),
        "metric_label": run_metric_label(inputs),
        "verdict": verdict,
        "verdict_class": verdict_class,
    }


def run_metric_label(inputs: RunInputs) -> str:
    """The name of the metric the run's accuracies are in (the evaluations' `metric`)."""
    metrics = [_arm(inputs, arm).get("metric") for arm in ("baseline", "seltda")]
    return metric_label(next((m for m in metrics if isinstance(m, str)), None))


def _format_p(p_value: float | None, resamples: float | None) -> str | None:
    if p_value is None:
        return None
    if p_value == 0 and resamples:
        return f"< {1 / resamples:.2g}"
    return f"{p_value:.3g}" if p_value >= 0.001 else f"{p_value:.1e}"


def per_type(inputs: RunInputs, figures: dict[str, bytes]) -> dict[str, Any] | None:
    baseline, seltda = _arm(inputs, "baseline"), _arm(inputs, "seltda")
    tables = []
    for key, title in (("per_question_type", "question type"), ("per_answer_type", "answer type")):
        base_types, sel_types = as_dict(baseline.get(key)), as_dict(seltda.get(key))
        rows = []
        for name in sorted(set(base_types) | set(sel_types), key=str):
            b, s = as_dict(base_types.get(name)), as_dict(sel_types.get(name))
            b_acc, s_acc = num(b.get("accuracy")), num(s.get("accuracy"))
            n = num(b.get("n")) or num(s.get("n"))
            rows.append(
                {
                    "type": str(name),
                    "baseline": b_acc,
                    "seltda": s_acc,
                    "diff": s_acc - b_acc if b_acc is not None and s_acc is not None else None,
                    "n": int(n) if n is not None else None,
                }
            )
        if rows:
            tables.append({"title": title, "rows": rows})
    if not tables:
        return None
    main = tables[0]["rows"]
    if any(r["baseline"] is not None or r["seltda"] is not None for r in main):
        figures["accuracy_per_type"] = plots.accuracy_per_type_plot(
            [r["type"] for r in main],
            [r["baseline"] for r in main],
            [r["seltda"] for r in main],
            ylabel=f"{run_metric_label(inputs)} (%)",
        )
    return {"tables": tables}


def learning_curve(inputs: RunInputs, figures: dict[str, bytes]) -> dict[str, Any] | None:
    """The data-efficiency curve of a `seltda curve` folder (curve.json)."""
    rows = [r for r in inputs.curve.get("rows", []) if isinstance(r, dict) and num(r.get("fraction"))]
    if not rows:
        return None
    figures["learning_curve"] = plots.learning_curve_plot(rows)
    table = []
    for row in rows:
        pooled = as_dict(row.get("pooled_gain"))
        table.append(
            {
                "fraction": row["fraction"],
                "labeled": row.get("labeled_questions"),
                "seeds": len(row.get("seeds", [])),
                "baseline": num(row.get("baseline")),
                "baseline_std": num(row.get("baseline_std")),
                "seltda": num(row.get("seltda")),
                "seltda_std": num(row.get("seltda_std")),
                "diff": num(row.get("gain")),
                "ci_low": num(pooled.get("ci_low")),
                "ci_high": num(pooled.get("ci_high")),
                "pseudo": num(row.get("pseudolabel_accuracy")),
            }
        )
    return {"rows": table}


def rounds(inputs: RunInputs) -> list[dict[str, Any]] | None:
    """Accuracy per SelTDA round (runs with `rounds` >= 2)."""
    metrics = inputs.metrics
    if metrics is None or not metrics.rounds:
        return None
    baseline = metrics.baseline.accuracy if metrics.baseline is not None else None
    return [
        {
            "round": item.round,
            "baseline": baseline,
            "seltda": item.accuracy,
            "diff": item.gain.diff if item.gain else None,
            "ci_low": item.gain.ci_low if item.gain else None,
            "ci_high": item.gain.ci_high if item.gain else None,
            "pseudo": item.pseudolabel_accuracy,
        }
        for item in metrics.rounds
    ]


def training_curves(inputs: RunInputs, figures: dict[str, bytes]) -> dict[str, Any] | None:
    curves: dict[str, tuple[list[float], list[float]]] = {}
    rows = []
    for stage, log in inputs.trainer_logs.items():
        points = [
            (num(e.get("step")), num(e.get("loss")))
            for e in log
            if num(e.get("step")) is not None and num(e.get("loss")) is not None
        ]
        final = next((e for e in reversed(log) if "train_loss" in e), {})
        if points:
            curves[stage] = ([p[0] for p in points], [p[1] for p in points])  # type: ignore[misc]
        rows.append(
            {
                "stage": stage,
                "points": len(points),
                "last_loss": points[-1][1] if points else None,
                "train_loss": num(final.get("train_loss")),
                "steps": num(final.get("step")) or (points[-1][0] if points else None),
                "runtime": num(final.get("train_runtime")),
            }
        )
    if not rows:
        return None
    if curves:
        figures["training_curves"] = plots.training_curves_plot(curves)
    stages = inputs.layout.trained()
    return {"rows": rows, "missing": [s for s in stages if s not in inputs.trainer_logs]}


def funnel(inputs: RunInputs, figures: dict[str, bytes]) -> dict[str, Any] | None:
    """The pseudo-label funnel and drops (metrics.json's, else the manifest's) and their accuracy."""
    pseudo = inputs.metrics.pseudolabels.model_dump() if inputs.metrics is not None else {}
    manifest = inputs.manifest
    stage_counts = as_dict(pseudo.get("funnel")) or as_dict(manifest.get("funnel"))
    drops = as_dict(pseudo.get("drops")) or as_dict(manifest.get("drops"))
    images = as_dict(pseudo.get("images")) or as_dict(manifest.get("images"))
    truth = as_dict(pseudo.get("accuracy_vs_truth"))
    if not (stage_counts or drops or truth):
        return None
    stages = [(str(k), int(v)) for k, v in stage_counts.items() if num(v) is not None]
    first = stages[0][1] if stages else 0
    rows, previous = [], None
    for stage, count in stages:
        rows.append(
            {
                "stage": stage,
                "count": count,
                "share": 100 * count / first if first else None,
                "dropped": previous - count if previous is not None else None,
            }
        )
        previous = count
    if stages:
        figures["funnel"] = plots.funnel_plot([s for s, _ in stages], [c for _, c in stages])
    total_drops = sum(int(v) for v in drops.values() if num(v) is not None)
    drop_rows = [
        {"reason": str(k), "count": int(v), "share": 100 * v / total_drops if total_drops else None}
        for k, v in sorted(drops.items(), key=lambda kv: -(num(kv[1]) or 0))
        if num(v) is not None
    ]
    unreadable = as_dict(images.get("unreadable"))
    return {
        "rows": rows,
        "drops": drop_rows,
        "images": {
            "listed": num(images.get("listed")),
            "seen": num(images.get("seen")),
            "unreadable": {str(k): v for k, v in unreadable.items()},
        }
        if images
        else None,
        "truth": _truth(truth) if truth else None,
    }


def _truth(truth: dict[str, Any]) -> dict[str, Any]:
    """The kept pseudo-labels scored against the pool's ground truth (experiments, the demo)."""
    scored = num(truth.get("scored"))
    return {
        "accuracy": num(truth.get("accuracy")),
        "scored": int(scored) if scored is not None else None,
        "generated": num(truth.get("generated")),
        "unanswerable": num(truth.get("unanswerable_or_false_premise")),
        "rows": [
            {"type": str(k), "accuracy": num(as_dict(v).get("accuracy")), "n": num(as_dict(v).get("n"))}
            for k, v in sorted(as_dict(truth.get("per_question_type")).items(), key=lambda kv: str(kv[0]))
        ],
    }


def suites(inputs: RunInputs) -> list[dict[str, Any]] | None:
    out = []
    for name, arms in ((inputs.metrics.suites or {}) if inputs.metrics else {}).items():
        base, sel = arms.baseline or {}, arms.seltda or {}
        rows = []
        for metric in list(dict.fromkeys([*base, *sel])):
            b, s = _exact(base.get(metric)), _exact(sel.get(metric))
            if b is None and s is None:
                continue
            rows.append({"metric": str(metric), "baseline": b, "seltda": s, "diff": _diff(b, s)})
        if rows:
            out.append({"name": str(name), "rows": rows})
    return out or None


def _exact(value: Any) -> int | float | None:
    """A finite number as given (ints stay ints), else None."""
    return value if num(value) is not None else None


def _diff(a: float | None, b: float | None) -> float | None:
    return b - a if a is not None and b is not None else None


def timings(inputs: RunInputs) -> dict[str, Any] | None:
    values = inputs.metrics.timings_seconds if inputs.metrics is not None else {}
    rows = [{"stage": str(k), "seconds": num(v)} for k, v in values.items() if num(v) is not None]
    if not rows:
        return None
    return {"rows": rows, "total": sum(r["seconds"] for r in rows)}


_CONFIG_HIGHLIGHTS = {
    "teacher": ("max_steps", "batch_size", "learning_rate"),
    "pseudolabel": ("per_image", "top_p", "temperature", "min_score", "keep_top_fraction"),
    "student": ("max_steps", "batch_size", "learning_rate", "synthetic_ratio"),
}


def config_summary(inputs: RunInputs) -> dict[str, Any] | None:
    config = inputs.config
    demo = (inputs.metrics.demo if inputs.metrics is not None else None) or {}
    if not config and not demo:
        return None
    rows = [{"key": str(k), "value": _scalar(v)} for k, v in config.items() if not isinstance(v, dict)]
    for section, values in config.items():
        if isinstance(values, dict):
            for key in _CONFIG_HIGHLIGHTS.get(str(section), ()):
                if key in values:
                    rows.append({"key": f"{section}.{key}", "value": _scalar(values[key])})
    return {
        "rows": rows,
        "yaml": yaml.safe_dump(config, sort_keys=False) if config else None,
        "demo": [{"key": str(k), "value": _scalar(v)} for k, v in demo.items() if not isinstance(v, dict)],
    }


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) if value else "[]"
    return str(value)
