"""Data-efficiency curve: baseline vs SelTDA at several labeled fractions and seeds.

Each point (fraction, seed) is a complete run (`pipeline.run`) in `out/fraction-<f>/seed-<s>/`, built with
the demo's split logic: a seeded share of the labeled images keeps its labels; the rest, whose labels are
never read, is the unlabeled pool unless the config names its own pool (all labeled images when the
fraction is 1). Finished points are read back, unfinished ones resume stage by stage, so an interrupted
curve never retrains a finished point. Writes `curve.json`, `curve.md` and `curve.png` into `out`.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from seltda.core.fileio import SeltdaInputError, atomic_write_bytes, atomic_write_json, atomic_write_text
from seltda.core.records import read_records
from seltda.eval.metrics import paired_bootstrap
from seltda.orchestrate.pipeline import RunConfig, load_run_config, run
from seltda.orchestrate.split import write_split
from seltda.run.artifacts import Evaluation, RunMetrics
from seltda.run.layout import CurveLayout, RunLayout

PointRunner = Callable[[float, int, Path], dict]


def point_folder(out: Path, fraction: float, seed: int) -> Path:
    return CurveLayout(out).point(fraction, seed).root


def run_point_config(base: RunConfig, fraction: float, seed: int, out: Path) -> RunConfig:
    """The run config of one curve point: a labeled fraction of `base.train` and the matching pool."""
    train = read_records(base.train)
    split = write_split(train, fraction, seed, RunLayout(out).split)
    update: dict[str, Any] = {"out": out, "train": split["labeled"], "seed": seed}
    if base.unlabeled_images is None and base.unlabeled_list is None:
        update.update(unlabeled_images=base.images, unlabeled_list=split["pool"])
    return base.model_copy(update=update)


def run_config_runner(base: RunConfig) -> PointRunner:
    """Curve points over a user's run config."""

    def run_one(fraction: float, seed: int, out: Path) -> dict:
        return run(run_point_config(base, fraction, seed, out))

    return run_one


def curve(out: Path, fractions: Sequence[float], seeds: Sequence[int], run_point: PointRunner) -> dict:
    """Run (or read back) every point, then write the curve's table, plot and JSON into `out`."""
    layout = CurveLayout(out)
    for fraction in fractions:
        if not 0 < fraction <= 1:
            raise ValueError(f"fractions must be in (0, 1], got {fraction}")
    points: dict[float, dict[int, RunMetrics]] = {}
    for fraction in sorted(fractions):
        for seed in seeds:
            point = layout.point(fraction, seed)
            if point.metrics.exists():
                metrics = RunMetrics.read(point.metrics)
            else:
                metrics = RunMetrics.model_validate(run_point(fraction, seed, point.root))
            points.setdefault(fraction, {})[seed] = metrics
    summary = summarize(layout.root, points)
    atomic_write_json(layout.json, summary)
    atomic_write_text(layout.markdown, curve_table(summary))
    from seltda.report.plots import learning_curve_plot

    atomic_write_bytes(layout.plot, learning_curve_plot(summary["rows"]))
    return summary


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _pooled_gain(out: Path, fraction: float, seeds: Sequence[int]) -> dict | None:
    """Paired bootstrap of SelTDA - baseline over the questions of every seed of one fraction."""
    a: list[float] = []
    b: list[float] = []
    for seed in seeds:
        point = CurveLayout(out).point(fraction, seed)
        if not point.baseline_eval.exists() or not point.student_eval.exists():
            return None
        base = Evaluation.read(point.baseline_eval).per_question
        student = Evaluation.read(point.student_eval).per_question
        common = sorted(set(base) & set(student))
        a += [float(base[q]) for q in common]
        b += [float(student[q]) for q in common]
    return paired_bootstrap(a, b, n_resamples=2000) if a else None


def _labeled_questions(point: RunLayout) -> int | None:
    """How many labeled questions the point trained on (the records of its recorded run config)."""
    try:
        return len(read_records(load_run_config(point.config).train))
    except SeltdaInputError:
        return None


def summarize(out: Path, points: dict[float, dict[int, RunMetrics]]) -> dict:
    """Mean and seed spread of both arms per fraction, the pooled gain and the pseudo-label accuracy."""
    rows = []
    for fraction, by_seed in sorted(points.items()):
        row: dict[str, Any] = {"fraction": fraction, "seeds": sorted(by_seed)}
        for arm in ("baseline", "seltda"):
            values = [scores.accuracy for m in by_seed.values() if (scores := getattr(m, arm)) is not None]
            if values:
                row[arm], row[f"{arm}_std"] = _mean_std(values)
                row[f"{arm}_per_seed"] = values
        row["labeled_questions"] = _labeled_questions(CurveLayout(out).point(fraction, min(by_seed)))
        truth = [
            m.pseudolabels.accuracy_vs_truth["accuracy"]
            for m in by_seed.values()
            if m.pseudolabels.accuracy_vs_truth
        ]
        row["pseudolabel_accuracy"] = statistics.fmean(truth) if truth else None
        if "baseline" in row and "seltda" in row:
            row["gain"] = row["seltda"] - row["baseline"]
            row["pooled_gain"] = _pooled_gain(out, fraction, sorted(by_seed))
        rows.append(row)
    return {"rows": rows}


def curve_table(summary: dict) -> str:
    """The curve as a markdown table (mean ± seed standard deviation)."""
    lines = [
        "| labeled fraction | labeled questions | seeds | baseline | SelTDA | gain | pooled 95% CI "
        "| pseudo-label acc. |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in summary["rows"]:
        pooled = row.get("pooled_gain")
        ci = f"[{pooled['ci_low']:+.2f}, {pooled['ci_high']:+.2f}]" if pooled else "n/a"
        truth = row.get("pseudolabel_accuracy")
        lines.append(
            f"| {row['fraction']:g} | {row.get('labeled_questions') or 'n/a'} | {len(row['seeds'])} | "
            f"{row.get('baseline', float('nan')):.2f} ± {row.get('baseline_std', 0):.2f} | "
            f"{row.get('seltda', float('nan')):.2f} ± {row.get('seltda_std', 0):.2f} | "
            f"{row.get('gain', float('nan')):+.2f} | {ci} | "
            f"{'n/a' if truth is None else f'{truth:.1f}'} |"
        )
    return "\n".join(lines) + "\n"
