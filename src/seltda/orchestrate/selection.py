"""Choosing on dev: the dev records (the user's, or labeled images held out), then every arm trained,
evaluated on dev and test, and the verdict (`orchestrate.verdict`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seltda.core.fileio import atomic_write_json, file_sha256, read_json
from seltda.core.records import read_records, write_records
from seltda.eval.question_types import TypeIndex
from seltda.orchestrate.ahead import Ahead
from seltda.orchestrate.aim import teacher_dev_margins
from seltda.orchestrate.arms import (
    BASELINE,
    Arm,
    evaluate_arms,
    evaluated,
    likelihoods_scored,
    score_likelihoods,
    synthetic_records,
    train_arm,
    trained_judge,
)
from seltda.orchestrate.crossfit import crossfit_sentence, pool_folds, resolve_dev_folds, write_folds
from seltda.orchestrate.recipes import OWN
from seltda.orchestrate.run_config import RunConfig
from seltda.orchestrate.split import hold_out_dev
from seltda.orchestrate.stage_clock import StageClock
from seltda.orchestrate.verdict import choose, summarize
from seltda.run.artifacts import ArmSummary, Evaluation, Shipped
from seltda.run.layout import RunLayout
from seltda.run.pseudolabels import PseudoLabelFolder

Dev = tuple[Path, Path]  # records, image root


def prepare_selection(cfg: RunConfig, layout: RunLayout, warnings: list[str]) -> tuple[RunConfig, Dev | None]:
    """The config the models train with (its `train` without the held-out dev images) and the dev records.

    With `dev:` the user's records choose and every model trains on all of `train`. With `dev_folds: k`
    the first of k folds of the labeled images is dev (`orchestrate.crossfit`). Otherwise
    `dev_fraction` of the labeled images (with all their questions) are held out into
    `selection/dev.jsonl` and the rest written to `selection/train.jsonl`. The split is made again when
    what it was made from (`selection/split.json`: the records' sha256, the seed, the fraction or folds)
    changed; a finished stage trained on the old one is refused or cleared first (`preflight`).
    """
    cfg = resolve_dev_folds(cfg)  # `auto` as a number (the pipeline resolves it first, before it records it)
    if cfg.dev is not None:
        return cfg, (cfg.dev, cfg.dev_images or cfg.images)
    how = {"dev_folds": cfg.dev_folds} if cfg.dev_folds >= 2 else {"dev_fraction": cfg.dev_fraction}
    key = {"train_sha256": file_sha256(cfg.train), "seed": cfg.seed, **how}  # what the split depends on
    current = layout.selection_split.is_file() and read_json(layout.selection_split) == key
    if cfg.dev_folds >= 2:  # fold 1 of k: the other folds' runs are made by `crossfit.run_folds`
        if not current:
            write_folds(cfg, layout)
            atomic_write_json(layout.selection_split, key)
        return cfg.model_copy(update={"train": layout.selection_train}), (layout.selection_dev, cfg.images)
    if cfg.dev_fraction <= 0:
        warnings.append("no dev records (dev_fraction: 0): nothing was chosen between the arms")
        return cfg, None
    if not current:  # made now, or again when the settings or records it was made from changed
        train, dev = hold_out_dev(read_records(cfg.train), cfg.dev_fraction, cfg.seed)
        if not dev:
            warnings.append("the labeled records hold one image: no dev split, nothing was chosen")
            return cfg, None
        write_records(layout.selection_train, train)
        write_records(layout.selection_dev, dev)
        atomic_write_json(layout.selection_split, key)
    return cfg.model_copy(update={"train": layout.selection_train}), (layout.selection_dev, cfg.images)


def _count(path: Path | None) -> int | None:
    if path is None or not path.is_file():
        return None
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def _untrainable(arm: Arm, layout: RunLayout) -> str | None:
    """Why an aimed, agreed or grounded arm would not be worth training (None: train it)."""
    recipe = arm.recipe
    if recipe is None or not recipe.selects:
        return None
    if trained_judge(recipe, layout) is None:
        return f"its judge, the {recipe.judge} student, was not trained"
    if not recipe.aimed:
        if not _count(arm.synthetic):
            if recipe.grounded is None and not recipe.probed:
                return "no pseudo-label kept: the baseline answers every generated question otherwise"
            return (
                "no pseudo-label kept by its selection (agree.json, ground.json, probe.json beside its "
                "pseudo-labels)"
            )
        return None
    if arm.synthetic is None:
        return "no dev records: it aims at the teacher's strengths on dev"
    kept = _count(arm.synthetic)
    if not kept:
        return (
            "no pseudo-label kept: on dev the teacher answers every question type worse than the baseline "
            "(teacher_types in metrics.json); it would be the baseline"
        )
    own = _count(PseudoLabelFolder(layout.pseudolabels).records)
    if not recipe.refilters and not recipe.student and kept == own:
        return f"no question type dropped: it would be the {OWN} arm (the same pseudo-labels and settings)"
    return None


def compare_arms(
    cfg: RunConfig,
    layout: RunLayout,
    arms: list[Arm],
    dev: Dev | None,
    pool_root: Path | None,
    clock: StageClock,
    warnings: list[str],
    known: dict[Path, Evaluation],
    ahead: Ahead,
) -> tuple[dict[str, ArmSummary], Shipped | None, str, dict[str, Any] | None]:
    """Train every arm's remaining replicates, evaluate all on dev and test, choose; returns `metrics.json`'s
    `arms`, `shipped`, `verdict` and `teacher_types` (the teacher's per-type dev margins, when measured).
    `known`: the evaluations the pipeline already holds (by file). Students train in `ahead`'s second
    process when it is free, while this one judges the next recipe's pairs or evaluates."""
    baseline = arms[0]
    train_arm(baseline, cfg, cfg.train, cfg.images, ahead, skip_first=True)
    index = TypeIndex(read_records(cfg.train))
    margins = None
    if dev is not None:  # the teacher per type on dev (the diagnostic; the aimed recipe uses it)
        evaluate_arms([baseline], cfg, layout, dev, known)
        margins = clock.run(
            "teacher_dev",
            layout.teacher_dev.is_file(),
            teacher_dev_margins,
            layout.teacher,
            read_records(dev[0]),
            dev[1],
            [e.per_question for e in baseline.dev],
            index,
            layout.teacher_dev,
            cfg.evaluate.metric,
            cfg.teacher.max_pixels,
        )
    trained = [baseline]
    for arm in arms[1:]:
        if arm.recipe is not None and arm.recipe.judge != BASELINE:  # its judge's student, trained first
            ahead.wait(layout.arm_model(arm.recipe.judge))
        arm.synthetic = synthetic_records(arm, cfg, layout, margins, index, pool_root)
        skip = _untrainable(arm, layout)
        if skip is not None:
            warnings.append(f"recipe {arm.name} was not trained: {skip}")
            clock.skip(f"student_{arm.name}", skip.split(":")[0], len(arm.models))
            continue
        train_arm(arm, cfg, cfg.train, pool_root or cfg.images, ahead, skip_first=arm.name == OWN)
        trained.append(arm)
    done = evaluated(trained, cfg, layout, dev)
    clock.run("evaluate_arms", done, evaluate_arms, trained, cfg, layout, dev, known, ahead)
    if dev is not None and cfg.reads_likelihood:
        scored = likelihoods_scored(trained, layout)
        clock.run("dev_likelihoods", scored, score_likelihoods, trained, cfg, layout, dev)
    if dev is not None and cfg.dev_folds >= 2:  # every fold's dev figures, before anything is judged
        pool_folds(trained, cfg, layout, warnings)
    counts = {arm.name: _count(arm.synthetic) for arm in trained if arm.name != BASELINE}
    summaries = summarize(trained, {k: v for k, v in counts.items() if v is not None})
    shipped, verdict = choose(trained, summaries, cfg.verdict, cfg.preference)
    if dev is not None and cfg.dev_folds >= 2:
        verdict += crossfit_sentence(cfg, baseline.dev[0].n if baseline.dev else None)
    return summaries, shipped, verdict, margins
