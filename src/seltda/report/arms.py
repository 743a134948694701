"""The report's verdict section: every arm on dev and test, what was shipped and why, and the teacher's
per-type dev accuracy against the baseline's (the diagnostic behind the aimed recipe)."""

from __future__ import annotations

from typing import Any

from seltda.report.inputs import RunInputs


def _comparison(gain: Any) -> str:
    """A paired comparison as `+d [low, high] (test questions only)`: one model per side."""
    return f"{gain.diff:+.2f} [{gain.ci_low:+.2f}, {gain.ci_high:+.2f}] (test questions only)"


def _gain(gain: Any) -> dict[str, Any]:
    if gain is None:
        return {"diff": None, "ci_low": None, "ci_high": None, "per_replicate": [], "detectable": None}
    return {
        "diff": gain.diff,
        "ci_low": gain.ci_low,
        "ci_high": gain.ci_high,
        "per_replicate": gain.per_replicate if gain.replicates > 1 else [],
        "detectable": gain.detectable,  # dev only: the smallest gain dev confirms 80% of the time
    }


def verdict(inputs: RunInputs) -> dict[str, Any] | None:
    """None for runs made before arms existed."""
    metrics = inputs.metrics
    if metrics is None or not metrics.arms:
        return None
    shipped = metrics.shipped.arm if metrics.shipped else None
    rows = [
        {
            "arm": name,
            "recipe": arm.recipe or "",
            "role": "shipped" if name == shipped else ("candidate" if arm.candidate else "reference"),
            "pseudolabels": arm.pseudolabels,
            "dev": arm.dev,
            "dev_per_replicate": arm.dev_per_replicate if len(arm.dev_per_replicate) > 1 else [],
            "test": arm.test,
            "test_per_replicate": arm.test_per_replicate if len(arm.test_per_replicate) > 1 else [],
            "gain_dev": _gain(arm.gain_dev),
            "gain_test": _gain(arm.gain_test),
            "likelihood": arm.gain_dev_likelihood.in_nats() if arm.gain_dev_likelihood else None,
        }
        for name, arm in metrics.arms.items()
    ]
    covers = sorted(
        {g.covers for a in metrics.arms.values() for g in (a.gain_dev, a.gain_test) if g and g.covers}
    )
    types = [{"type": kind, **figures} for kind, figures in (metrics.teacher_types or {}).items()]
    return {
        "verdict": metrics.verdict,
        "shipped": metrics.shipped.model_dump() if metrics.shipped else None,
        "refit": metrics.refit.model_dump(exclude={"gain"}) if metrics.refit else None,
        "refit_gain": _comparison(metrics.refit.gain) if metrics.refit and metrics.refit.gain else None,
        "rows": rows,
        "covers": covers,
        "teacher_types": types,
    }
