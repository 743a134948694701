"""The table: one row per (set, figure), one column per model, and each model's gain over the first.

A figure is the mean of per-unit scores (questions, or rephrasing groups for CS(k)): `accuracy` over every
question, then the set's suites (`eval.suites.suite_units`). A cell is the mean over a model's replicates
of the figure; a gain pairs replicate k of a model with replicate k of the first model on the same units
(`eval.intervals.seed_aware_gain`): with one replicate its interval covers test sampling only, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from seltda.core.records import read_records
from seltda.eval.intervals import seed_aware_gain
from seltda.eval.suites import suite_units
from seltda.orchestrate.benchmark.config import BenchmarkConfig
from seltda.run.artifacts import (
    Benchmark,
    BenchmarkCell,
    BenchmarkModel,
    BenchmarkRow,
    BenchmarkSet,
    Evaluation,
    Gain,
)

ACCURACY = "accuracy"


def figure_units(evaluation: Evaluation, records, suites: Sequence[str]) -> dict[str, dict[str, float]]:
    """{figure: {unit: score}} of one evaluation: accuracy over its questions, then its suites' figures."""
    scores = evaluation.per_question
    figures = {ACCURACY: dict(scores), **suite_units(records, scores, suites)}
    return {figure: units for figure, units in figures.items() if units}


def _label(figure: str, metric: str) -> tuple[str, str]:
    """The figure as the table shows it, and what it averages."""
    if figure == ACCURACY:
        return f"accuracy ({metric})", "questions"
    if figure.startswith("flag:"):
        return f"{figure.removeprefix('flag:')}: accuracy", "questions"
    if figure == "numeric":
        return "numeric answers: accuracy", "questions"
    return figure, "groups" if "CS(" in figure else "questions"


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _cell(maps: Sequence[Mapping[str, float]]) -> BenchmarkCell:
    per_replicate = [_mean(list(m.values())) for m in maps]
    return BenchmarkCell(value=_mean(per_replicate), per_replicate=per_replicate, n=len(maps[0]))


def build_table(
    cfg: BenchmarkConfig, evaluations: Mapping[tuple[str, str], Sequence[Evaluation]]
) -> Benchmark:
    """The benchmark artifact from every (model, set)'s replicate evaluations."""
    reference = cfg.models[0].name
    rows: list[BenchmarkRow] = []
    sets: list[BenchmarkSet] = []
    for entry in cfg.sets:
        settings = entry.settings(cfg.evaluate)
        records = read_records(entry.data)[: settings.limit]
        units: dict[str, dict[str, list[dict[str, float]]]] = {}  # model -> figure -> per replicate
        metric = None
        for model in cfg.models:
            replicates = evaluations.get((model.name, entry.name), [])
            for evaluation in replicates:
                metric = metric or evaluation.metric
                for figure, scores in figure_units(evaluation, records, settings.suites).items():
                    units.setdefault(model.name, {}).setdefault(figure, []).append(scores)
        sets.append(BenchmarkSet(name=entry.name, data=str(entry.data), metric=metric or "-", n=len(records)))
        figures = list(dict.fromkeys(f for per_model in units.values() for f in per_model))
        for figure in figures:
            label, unit = _label(figure, metric or "-")
            cells = {
                name: _cell(per_figure[figure]) for name, per_figure in units.items() if figure in per_figure
            }
            gains = {}
            base = units.get(reference, {}).get(figure)
            for name, per_figure in units.items():
                if name != reference and base and figure in per_figure:
                    gains[name] = _gain(base, per_figure[figure], cfg)
            rows.append(
                BenchmarkRow(set=entry.name, figure=figure, label=label, units=unit, cells=cells, gains=gains)
            )
    models = [
        BenchmarkModel(
            name=m.name,
            replicates=m.replicates,
            sources=m.folders() or sorted({f for e in cfg.sets for f in m.prediction_files(e.name) or []}),
        )
        for m in cfg.models
    ]
    covers = sorted({g.covers for row in rows for g in row.gains.values() if g.covers})
    return Benchmark(
        reference=reference,
        confidence=cfg.confidence,
        models=models,
        sets=sets,
        rows=rows,
        covers=covers,
    )


def _gain(
    base: Sequence[Mapping[str, float]], other: Sequence[Mapping[str, float]], cfg: BenchmarkConfig
) -> Gain:
    result = seed_aware_gain(base, other, confidence=cfg.confidence, n_resamples=cfg.resamples, seed=cfg.seed)
    return Gain.model_validate(result)
