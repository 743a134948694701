"""Data-efficiency curve: baseline vs SelTDA at several labeled fractions and seeds.

Each point (fraction, seed) is a complete run (`pipeline.run`) in `out/fraction-<f>/seed-<s>/`, built with
the demo's split logic: a seeded share of the labeled images keeps its labels; the rest, whose labels are
never read, is the unlabeled pool unless the config names its own pool (all labeled images when the
fraction is 1). Finished points are read back, unfinished ones resume stage by stage, so an interrupted
curve never retrains a finished point. Writes `curve.json`, `curve.md` and `curve.png` into `out`.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from seltda.core.fileio import SeltdaInputError, atomic_write_bytes, atomic_write_json, atomic_write_text
from seltda.core.records import read_records
from seltda.eval.intervals import detectable_gain, seed_aware_gain
from seltda.eval.metrics import paired_bootstrap
from seltda.orchestrate.arms import BASELINE
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


def run_config_runner(base: RunConfig, force: bool = False) -> PointRunner:
    """Curve points over a user's run config (`force`: retrain the finished stages whose settings changed)."""

    def run_one(fraction: float, seed: int, out: Path) -> dict:
        return run(run_point_config(base, fraction, seed, out), force=force)

    return run_one


def curve(out: Path, fractions: Sequence[float], seeds: Sequence[int], run_point: PointRunner) -> dict:
    """Run (resume) every point, then write the curve's table, plot and JSON into `out`."""
    layout = CurveLayout(out)
    for fraction in fractions:
        if not 0 < fraction <= 1:
            raise ValueError(f"fractions must be in (0, 1], got {fraction}")
    points: dict[float, dict[int, RunMetrics]] = {}
    for fraction in sorted(fractions):
        for seed in seeds:
            # every point goes through its run, which reuses finished stages and refuses (or with --force
            # retrains) those whose settings changed: a finished point is never read back stale
            point = layout.point(fraction, seed)
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


SHIPPED = "shipped"
# the refit models (train + dev): the shipped arm's gain is measured against the refit baseline
SHIPPED_REFIT, BASELINE_REFIT = "shipped_refit", "baseline_refit"
REFIT_ARMS = {SHIPPED_REFIT: BASELINE_REFIT, BASELINE_REFIT: BASELINE}  # arm: its reference


def _mean_scores(paths: Sequence[Path]) -> dict[str, float] | None:
    """The per-question scores averaged over an arm's replicates (None when one is missing)."""
    if not paths or not all(p.is_file() for p in paths):
        return None
    maps = [Evaluation.read(p).per_question for p in paths]
    common = set(maps[0]).intersection(*maps[1:])
    return {q: statistics.fmean(m[q] for m in maps) for q in common}


def _arm_scores(
    point: RunLayout, metrics: RunMetrics, arm: str
) -> tuple[float, dict[str, float] | None] | None:
    """One point's test accuracy of an arm (mean over its replicates; `shipped`: the shipped model) and
    its per-question scores."""
    if arm == SHIPPED:  # the dev-chosen model, trained on train like the baseline (refit: SHIPPED_REFIT)
        shipped = metrics.shipped
        accuracy = None if shipped is None else shipped.selected_accuracy
        if accuracy is None and shipped is not None:  # runs before refit
            accuracy = shipped.accuracy
        if accuracy is None:
            return None
        return accuracy, _mean_scores([point.arm_eval(shipped.arm, shipped.replicate)])
    if arm in REFIT_ARMS:
        refit = metrics.refit
        if refit is None:
            return None
        name = BASELINE if arm == BASELINE_REFIT else refit.arm
        accuracy = refit.baseline_accuracy if arm == BASELINE_REFIT else refit.accuracy
        return (accuracy, _mean_scores([point.refit_eval(name)])) if accuracy is not None else None
    summary = (metrics.arms or {}).get(arm)
    if summary is not None and summary.test is not None:
        paths = [point.arm_eval(arm, k) for k in range(1, len(summary.test_per_replicate) + 1)]
        return summary.test, _mean_scores(paths)
    legacy = {"baseline": metrics.baseline, "seltda": metrics.seltda}.get(arm)  # runs before arms existed
    if legacy is None:
        return None
    return legacy.accuracy, _mean_scores([point.arm_eval(arm)])


def arms_and_gains(out: Path, fraction: float, by_seed: dict[int, RunMetrics]) -> tuple[dict, dict]:
    """`arms` ({name: {mean, per_seed}}) and `gains` over the baseline ({name: {mean, per_seed, ci}}, the
    interval over seeds and test questions, `eval.intervals.seed_aware_gain`) of one fraction."""
    names = ["baseline"]
    for metrics in by_seed.values():
        names += [n for n in (metrics.arms or {"seltda": None}) if n not in names]
    names += [SHIPPED, BASELINE_REFIT, SHIPPED_REFIT]
    scores: dict[str, dict[int, tuple[float, dict | None]]] = {}
    for seed, metrics in sorted(by_seed.items()):
        point = CurveLayout(out).point(fraction, seed)
        for name in names:
            found = _arm_scores(point, metrics, name)
            if found is not None:
                scores.setdefault(name, {})[seed] = found
    arms = {
        name: {"mean": statistics.fmean(a for a, _ in s.values()), "per_seed": [a for a, _ in s.values()]}
        for name, s in scores.items()
    }
    gains = {}
    for name, by in scores.items():
        baseline = scores.get(REFIT_ARMS.get(name, BASELINE), {})  # what this arm's gain is over
        seeds = [s for s in by if s in baseline]
        if name == BASELINE or not seeds:
            continue
        per_seed = [by[s][0] - baseline[s][0] for s in seeds]
        gain: dict[str, Any] = {"mean": statistics.fmean(per_seed), "per_seed": per_seed, "seeds": seeds}
        gain["over"] = REFIT_ARMS.get(name, BASELINE)
        if all(by[s][1] and baseline[s][1] for s in seeds):
            interval = seed_aware_gain([baseline[s][1] for s in seeds], [by[s][1] for s in seeds])
            gain.update(ci=[interval["ci_low"], interval["ci_high"]], covers=interval["covers"])
        gains[name] = gain
    return arms, gains


def _dev_detectable(metrics: Iterable[RunMetrics]) -> float | None:
    """Mean over seeds of the smallest gain a candidate's dev comparison confirms 80% of the time: below it,
    the verdict ships the baseline whatever the candidates' true gains."""
    values = []
    for m in metrics:
        gains = [a.gain_dev for a in m.arms.values() if a.candidate and a.gain_dev is not None]
        seen = [d for g in gains if (d := detectable_gain(g.ci_low, g.ci_high)) is not None]
        if seen:
            values.append(min(seen))
    return round(statistics.fmean(values), 2) if values else None


def summarize(out: Path, points: dict[float, dict[int, RunMetrics]]) -> dict:
    """Per fraction: every arm's test accuracy per seed, each gain over the baseline with an interval over
    seeds and questions, the legacy baseline/SelTDA columns and the pseudo-label accuracy."""
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
        row["arms"], row["gains"] = arms_and_gains(out, fraction, by_seed)
        row["dev_detectable"] = _dev_detectable(by_seed.values())
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
    seen = [
        f"{row['fraction']:g}: {row['dev_detectable']:+.1f}"
        for row in summary["rows"]
        if row.get("dev_detectable")
    ]
    if seen:
        lines += [
            "",
            "Smallest gain the dev split confirms 80% of the time (mean over seeds): " + ", ".join(seen),
        ]
    lines += ["", "Gains over the baseline, mean over seeds, 95% CI over seeds and test questions:", ""]
    lines += [
        "| labeled fraction | arm | test accuracy | gain | 95% CI | per seed |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary["rows"]:
        for name, gain in row.get("gains", {}).items():
            ci = gain.get("ci")
            lines.append(
                f"| {row['fraction']:g} | {name} | {row['arms'][name]['mean']:.2f} | {gain['mean']:+.2f} | "
                f"{f'[{ci[0]:+.2f}, {ci[1]:+.2f}]' if ci else 'n/a'} | "
                f"{', '.join(f'{g:+.2f}' for g in gain['per_seed'])} |"
            )
    return "\n".join(lines) + "\n"
