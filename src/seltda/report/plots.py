"""Report plots as PNG bytes, drawn with matplotlib's Agg canvas (no pyplot, no global backend state)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["accuracy_per_type_plot", "funnel_plot", "learning_curve_plot", "training_curves_plot"]

BASELINE_COLOR = "#8c8c8c"
SELTDA_COLOR = "#2b6cb0"
CURVE_COLORS = {"teacher": "#d97706", "baseline": BASELINE_COLOR, "student": SELTDA_COLOR}
DPI = 110


def _png(figure: Figure) -> bytes:
    """Render ``figure`` to PNG bytes (no timestamp or version metadata, so reruns are identical)."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def accuracy_per_type_plot(
    types: Sequence[str], baseline: Sequence[float | None], seltda: Sequence[float | None], ylabel: str
) -> bytes:
    """Grouped bars: baseline vs SelTDA accuracy (0-100) for each question type."""
    width = max(5.0, min(12.0, 1.3 * len(types) + 2.0))
    figure = Figure(figsize=(width, 3.6), layout="constrained")
    axes = figure.add_subplot()
    positions = range(len(types))
    bar = 0.38
    for offset, values, label, color in (
        (-bar / 2, baseline, "baseline", BASELINE_COLOR),
        (bar / 2, seltda, "SelTDA", SELTDA_COLOR),
    ):
        heights = [v if v is not None else 0.0 for v in values]
        bars = axes.bar([p + offset for p in positions], heights, bar, label=label, color=color)
        axes.bar_label(
            bars, labels=[f"{v:.1f}" if v is not None else "n/a" for v in values], fontsize=8, padding=2
        )
    axes.set_xticks(list(positions), list(types), rotation=20 if len(types) > 6 else 0)
    axes.set_ylim(0, 110)
    axes.set_ylabel(ylabel)
    axes.set_title("Accuracy per question type")
    axes.legend(loc="upper left", ncols=2, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)


def training_curves_plot(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> bytes:
    """Training loss vs optimizer step, one line per stage (teacher, baseline, student)."""
    figure = Figure(figsize=(7.0, 3.6), layout="constrained")
    axes = figure.add_subplot()
    for name, (steps, losses) in curves.items():
        marker = "o" if len(steps) < 3 else None
        axes.plot(steps, losses, label=name, color=CURVE_COLORS.get(name), marker=marker, linewidth=1.6)
    axes.set_xlabel("step")
    axes.set_ylabel("training loss")
    axes.set_title("Training curves")
    axes.grid(alpha=0.3)
    axes.legend(frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)


def funnel_plot(stages: Sequence[str], counts: Sequence[int]) -> bytes:
    """Horizontal bars: how many generated pairs survive each filtering stage."""
    figure = Figure(figsize=(7.0, 0.45 * len(stages) + 1.2), layout="constrained")
    axes = figure.add_subplot()
    positions = list(range(len(stages)))
    bars = axes.barh(positions, counts, color=SELTDA_COLOR)
    first = counts[0] if counts and counts[0] else 0
    labels = [f"{c:,}" + (f" ({100 * c / first:.1f}%)" if first else "") for c in counts]
    axes.bar_label(bars, labels=labels, fontsize=8, padding=3)
    axes.set_yticks(positions, list(stages))
    axes.invert_yaxis()
    axes.set_xlim(0, max([*counts, 1]) * 1.3)
    axes.set_xlabel("question-answer pairs")
    axes.set_title("Pseudo-label funnel")
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)


def learning_curve_plot(rows: Sequence[Mapping]) -> bytes:
    """Accuracy vs labeled fraction (log scale), both arms, seed standard deviation as error bars."""
    figure = Figure(figsize=(6.5, 3.8), layout="constrained")
    axes = figure.add_subplot()
    for arm, label, color in (("baseline", "baseline", BASELINE_COLOR), ("seltda", "SelTDA", SELTDA_COLOR)):
        points = [r for r in rows if r.get(arm) is not None]
        axes.errorbar(
            [r["fraction"] for r in points],
            [r[arm] for r in points],
            yerr=[r.get(f"{arm}_std", 0.0) for r in points],
            label=label,
            color=color,
            marker="o",
            capsize=3,
            linewidth=1.6,
        )
    axes.set_xscale("log")
    fractions = [r["fraction"] for r in rows]
    axes.set_xticks(fractions, [f"{f:g}" for f in fractions])
    axes.minorticks_off()
    axes.set_xlabel("labeled fraction of the training images")
    axes.set_ylabel("VQA accuracy (%)")
    axes.set_title("Data-efficiency curve (mean ± sd over seeds)")
    axes.legend(loc="lower right", frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)
