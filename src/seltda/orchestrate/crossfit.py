"""Cross-fitted dev (`dev_folds: k`): every labeled question judges the arms, each scored by models that did
not train on it.

A dev split held out of a small labeled set confirms only large gains: at 1% of easy-VQA its 63-83
questions see about +10.8 points (docs/benchmarks.md (z)), so the verdict ships the baseline at seeds where
a student gains on test. With `dev_folds: k` the labeled images are split into k folds by image (all the
questions of an image in one fold). The run holds out fold 1 as its own dev (`selection/`), and for each
fold j >= 2 a whole run is made first, in `folds/fold-<j>/`: its own base, teacher, pseudo-labels, baseline
and candidates, trained on every other fold and evaluated on fold j (no test, no refit, no references; they
only feed the verdict). Before the verdict each arm's dev evaluations and answer likelihoods are pooled over
the k folds (`pool_folds`), so its intervals are over every labeled question. No model that scores a fold
learned from it: each fold run's teacher, pseudo-labels, probes and judges come from its own training
folds. (`aimed` is the exception, with or without folds: it keeps the question types where the teacher
beats the baseline on the dev it is then scored on, so its dev gain leans optimistic.) A candidate that
one fold's run did not train (nothing kept) is not judged. The shipped replicate's `dev_accuracy` is its
pooled figure. The price is k runs instead of one; the refit on train + dev (every label) follows as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from seltda.core.fileio import SeltdaInputError
from seltda.core.records import read_records, write_records
from seltda.orchestrate.arms import BASELINE, Arm
from seltda.orchestrate.recipes import resolve_recipe
from seltda.orchestrate.run_config import AUTO, AUTO_FOLDS, AUTO_MIN_DEV_QUESTIONS, RunConfig
from seltda.orchestrate.split import hold_out_dev, image_folds
from seltda.orchestrate.stage_clock import console
from seltda.run.artifacts import Evaluation, Likelihoods
from seltda.run.layout import RunLayout


def resolve_dev_folds(cfg: RunConfig) -> RunConfig:
    """`dev_folds: auto` made a number: `AUTO_FOLDS` when the held-out split (`dev_fraction` of the labeled
    images) would hold fewer than `AUTO_MIN_DEV_QUESTIONS` questions and the labeled set holds that many,
    else 0 (that split). A dev that small confirms only large gains (at 1% of easy-VQA, 63-83 questions see
    about +10.8 points: docs/benchmarks.md (z)), so the verdict would ship the baseline where a student
    gains; cross-fitted, every labeled question judges, for k runs' training. A labeled set smaller than
    that is left one split: its pooled dev would confirm little more, at k times the cost."""
    if cfg.dev_folds != AUTO:
        return cfg
    folds = 0
    if cfg.dev is None and cfg.dev_fraction > 0:
        records = read_records(cfg.train)
        _, dev = hold_out_dev(records, cfg.dev_fraction, cfg.seed)
        enough = len(records) >= AUTO_MIN_DEV_QUESTIONS and len({r.image for r in records}) >= AUTO_FOLDS
        if dev and len(dev) < AUTO_MIN_DEV_QUESTIONS and enough:
            folds = AUTO_FOLDS
            console.print(
                f"dev_folds: auto -> {folds}: a held-out dev would hold {len(dev)} questions (fewer than "
                f"{AUTO_MIN_DEV_QUESTIONS}), too few to confirm a gain of a few points, so dev is "
                f"cross-fitted: {folds} runs, each judged on the fold it did not train on (`dev_folds: 0` "
                "holds out one split instead)"
            )
    return cfg.model_copy(update={"dev_folds": folds})


def write_folds(cfg: RunConfig, layout: RunLayout) -> None:
    """Fold 1 as `selection/train.jsonl` + `selection/dev.jsonl`, and each other fold's train (every other
    fold, in the records' order) and dev records (the split depends on the records and the seed only)."""
    records = read_records(cfg.train)
    try:
        folds = image_folds(records, cfg.dev_folds, cfg.seed)
    except ValueError as error:
        raise SeltdaInputError(f"{cfg.train}: dev_folds: {error}") from error
    for number, fold in enumerate(folds, start=1):
        held_out = {r.image for r in fold}
        train = [r for r in records if r.image not in held_out]
        if number == 1:
            files = layout.selection_train, layout.selection_dev
        else:
            files = layout.fold_records(number, "train"), layout.fold_records(number, "dev")
        write_records(files[0], train)
        write_records(files[1], fold)


def _judges_of_candidates(cfg: RunConfig) -> list:
    """The references a candidate's pairs are judged by (directly or through other judges): a fold's run
    trains these and no other reference."""
    by_name = {resolve_recipe(r).name: r for r in cfg.references}
    needed, pending = set(), [resolve_recipe(r).judge for r in cfg.candidates]
    while pending:
        name = pending.pop()
        if name in by_name and name not in needed:
            needed.add(name)
            pending.append(resolve_recipe(by_name[name]).judge)
    return [r for name, r in by_name.items() if name in needed]


def fold_config(cfg: RunConfig, layout: RunLayout, number: int) -> RunConfig:
    """Fold `number`'s run: the run's settings, trained without the fold and evaluated on it only (its
    candidates and their judges; no test, no refit, no other reference)."""
    return cfg.model_copy(
        update={
            "out": layout.fold(number),
            "train": layout.fold_records(number, "train"),
            "dev": layout.fold_records(number, "dev"),
            "dev_images": cfg.images,
            "dev_folds": 0,
            "test": None,
            "test_images": None,
            "refit": False,
            "references": _judges_of_candidates(cfg),
            "rounds": 1,
        }
    )


def run_folds(cfg: RunConfig, layout: RunLayout, run: Callable[..., dict], force: bool, threads: int) -> None:
    """Make (or resume, or read back) the run of every fold but the first; `run` is `pipeline.run`, called
    with torch's thread count as the caller of the whole run had it (`threads`), so that a fold's run shares
    the cores among its workers as the run does, not a share of a share."""
    import torch

    here = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for number in range(2, cfg.dev_folds + 1):
            console.rule(f"dev fold {number} of {cfg.dev_folds}: trained without it, scored on it")
            run(fold_config(cfg, layout, number), force=force)
    finally:
        torch.set_num_threads(here)
    console.rule(f"dev fold 1 of {cfg.dev_folds}: the run itself")


def _disjoint(maps: Sequence[dict[str, float]]) -> dict[str, float]:
    """The folds' per-question scores in one map; a question in two folds is an error (folds are disjoint)."""
    merged: dict[str, float] = {}
    for scores in maps:
        shared = merged.keys() & scores.keys()
        if shared:
            raise ValueError(f"dev folds share questions: {sorted(shared)[:3]}")
        merged.update(scores)
    return merged


def merge_evaluations(parts: Sequence[Evaluation]) -> Evaluation:
    """One dev evaluation from disjoint folds' (each question once): accuracy weighted by questions."""
    n = sum(p.n for p in parts)
    per_question = _disjoint([p.per_question for p in parts])
    metrics = {p.metric for p in parts}
    if len(metrics) > 1:
        raise ValueError(f"dev folds scored with different metrics: {sorted(metrics)}")

    def weighted(values: Sequence[float]) -> float:
        return round(sum(v * p.n for v, p in zip(values, parts, strict=True)) / n, 2) if n else 0.0

    return parts[0].model_copy(
        update={
            "data": " + ".join(p.data for p in parts),
            "accuracy": weighted([p.accuracy for p in parts]),
            "exact_match": weighted([p.exact_match for p in parts]),
            "n": n,
            "missing": sum(p.missing for p in parts),
            "left_out": sum(p.left_out for p in parts),
            "per_question": per_question,
            "per_question_type": {},
            "per_answer_type": {},
            "predictions": [],
            "suites": {},
        }
    )


def merge_likelihoods(parts: Sequence[Likelihoods]) -> Likelihoods:
    """One dev likelihood record from disjoint folds' (the mean weighted by questions)."""
    n = sum(p.n for p in parts)
    per_question = _disjoint([p.per_question for p in parts])
    mean = sum(p.mean * p.n for p in parts) / n if n else 0.0
    return parts[0].model_copy(
        update={"data": " + ".join(p.data for p in parts), "mean": mean, "n": n, "per_question": per_question}
    )


def _fold_files(fold: RunLayout, arm: Arm) -> tuple[list[Path], list[Path]]:
    """The dev evaluation and the likelihood file of each of `arm`'s replicates in one fold's run."""
    evaluations = [fold.arm_eval(arm.name, k, "dev") for k in range(1, len(arm.dev) + 1)]
    likelihoods = [fold.arm_likelihood(arm.name, k) for k in range(1, len(arm.dev_likelihood) + 1)]
    return evaluations, likelihoods


def pool_folds(arms: Sequence[Arm], cfg: RunConfig, layout: RunLayout, warnings: list[str]) -> None:
    """Replace each arm's dev evaluations (and likelihoods) by their pool over the k folds, replicate by
    replicate. An arm that a fold's run did not train is left unjudged (no dev figures), and a candidate
    so left is named in `warnings`; the baseline is trained in every fold."""
    folds = [RunLayout(layout.fold(number)) for number in range(2, cfg.dev_folds + 1)]
    trained = {BASELINE} | {recipe.name for recipe, _ in fold_config(cfg, layout, 2).recipes()}
    for arm in arms:
        if arm.name not in trained:  # a reference: the folds' runs do not train it, its dev is fold 1's
            arm.dev, arm.dev_likelihood = [], []
            continue
        files = [_fold_files(fold, arm) for fold in folds]
        missing = [
            str(fold.root)
            for fold, (evaluations, likelihoods) in zip(folds, files, strict=True)
            if not all(f.is_file() for f in [*evaluations, *likelihoods])
        ]
        if not missing:
            arm.dev = [
                merge_evaluations([own, *(Evaluation.read(evaluations[k]) for evaluations, _ in files)])
                for k, own in enumerate(arm.dev)
            ]
            arm.dev_likelihood = [
                merge_likelihoods([own, *(Likelihoods.read(likelihoods[k]) for _, likelihoods in files)])
                for k, own in enumerate(arm.dev_likelihood)
            ]
            continue
        if arm.name == BASELINE:
            raise RuntimeError(f"the baseline of the dev fold runs {missing} is not evaluated on its fold")
        arm.dev, arm.dev_likelihood = [], []
        if arm.candidate:
            warnings.append(
                f"recipe {arm.name} was not judged: the dev fold runs {', '.join(missing)} did not train "
                "it (their metrics.json say why)"
            )


def crossfit_sentence(cfg: RunConfig, questions: int | None) -> str:
    """What the verdict adds when dev is cross-fitted."""
    where = f"{questions} " if questions else ""
    return (
        f"; dev is cross-fitted over {cfg.dev_folds} folds: its {where}questions are every labeled question, "
        "each scored by models trained without its fold (folds/)"
    )
