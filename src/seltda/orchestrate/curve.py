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

import yaml

from seltda.core.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from seltda.core.records import read_records
from seltda.eval.metrics import paired_bootstrap
from seltda.orchestrate.pipeline import RunConfig, run
from seltda.orchestrate.split import write_split

PointRunner = Callable[[float, int, Path], dict]


def point_folder(out: Path, fraction: float, seed: int) -> Path:
    return Path(out) / f"fraction-{fraction:g}" / f"seed-{seed}"


def run_point_config(base: RunConfig, fraction: float, seed: int, out: Path) -> RunConfig:
    """The run config of one curve point: a labeled fraction of `base.train` and the matching pool."""
    train = read_records(base.train)
    split = write_split(train, fraction, seed, out / "split")
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
    out = Path(out)
    for fraction in fractions:
        if not 0 < fraction <= 1:
            raise ValueError(f"fractions must be in (0, 1], got {fraction}")
    points: dict[float, dict[int, dict]] = {}
    for fraction in sorted(fractions):
        for seed in seeds:
            folder = point_folder(out, fraction, seed)
            done = folder / "metrics.json"
            metrics = read_json(done) if done.exists() else run_point(fraction, seed, folder)
            points.setdefault(fraction, {})[seed] = metrics
    summary = summarize(out, points)
    atomic_write_json(out / "curve.json", summary)
    atomic_write_text(out / "curve.md", curve_table(summary))
    from seltda.report.plots import learning_curve_plot

    atomic_write_bytes(out / "curve.png", learning_curve_plot(summary["rows"]))
    return summary


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _pooled_gain(out: Path, fraction: float, seeds: Sequence[int]) -> dict | None:
    """Paired bootstrap of SelTDA - baseline over the questions of every seed of one fraction."""
    a: list[float] = []
    b: list[float] = []
    for seed in seeds:
        folder = point_folder(out, fraction, seed) / "eval"
        if not (folder / "baseline.json").exists() or not (folder / "student.json").exists():
            return None
        base = read_json(folder / "baseline.json")["per_question"]
        student = read_json(folder / "student.json")["per_question"]
        common = sorted(set(base) & set(student))
        a += [float(base[q]) for q in common]
        b += [float(student[q]) for q in common]
    return paired_bootstrap(a, b, n_resamples=2000) if a else None


def _labeled_questions(folder: Path) -> int | None:
    """How many labeled questions the point trained on (from its run config)."""
    try:
        train = Path(yaml.safe_load((folder / "config.yaml").read_text())["train"])
        return sum(1 for line in train.read_text().splitlines() if line.strip())
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return None


def summarize(out: Path, points: dict[float, dict[int, dict]]) -> dict:
    """Mean and seed spread of both arms per fraction, the pooled gain and the pseudo-label accuracy."""
    rows = []
    for fraction, by_seed in sorted(points.items()):
        row: dict[str, Any] = {"fraction": fraction, "seeds": sorted(by_seed)}
        for arm in ("baseline", "seltda"):
            values = [m[arm]["accuracy"] for m in by_seed.values() if arm in m]
            if values:
                row[arm], row[f"{arm}_std"] = _mean_std(values)
                row[f"{arm}_per_seed"] = values
        row["labeled_questions"] = _labeled_questions(point_folder(out, fraction, min(by_seed)))
        truth = [
            m["pseudolabels"]["accuracy_vs_truth"]["accuracy"]
            for m in by_seed.values()
            if m.get("pseudolabels", {}).get("accuracy_vs_truth")
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
