"""Cross-fitted dev (`dev_folds: k`): every labeled question judges the arms, each scored by models that did
not train on it.

A dev split held out of a small labeled set confirms only large gains: at 1% of easy-VQA its 63-83
questions see about +10.8 points (docs/benchmarks.md (z)), so the verdict ships the baseline at seeds where
a student gains on test. With `dev_folds: k` the labeled images are split into k folds by image (all the
questions of an image in one fold). The run holds out fold 1 as its own dev (`selection/`), and for each
fold j >= 2 a whole run is made first, in `folds/fold-<j>/`: its own base, teacher, pseudo-labels, baseline
and candidates, trained on every other fold and evaluated on fold j (no test, no refit, no references; they
only feed the verdict). Before the verdict each arm's dev evaluations and answer likelihoods are pooled over
the k folds (`pool_folds`), so its intervals are over every labeled question. Nothing that scores a fold
learned from it: each fold run's teacher, pseudo-labels, probes and judges come from its own training
folds. The price is k runs instead of one; the refit on train + dev (every label) follows as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from seltda.core.fileio import SeltdaInputError
from seltda.core.records import read_records, write_records
from seltda.orchestrate.arms import BASELINE, Arm
from seltda.orchestrate.run_config import RunConfig
from seltda.orchestrate.split import image_folds
from seltda.orchestrate.stage_clock import console
from seltda.run.artifacts import Evaluation, Likelihoods
from seltda.run.layout import RunLayout


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


def fold_config(cfg: RunConfig, layout: RunLayout, number: int) -> RunConfig:
    """Fold `number`'s run: the run's settings, trained without the fold and evaluated on it only."""
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
            "references": [],
            "rounds": 1,
        }
    )


def run_folds(cfg: RunConfig, layout: RunLayout, run: Callable[..., dict], force: bool) -> None:
    """Make (or resume, or read back) the run of every fold but the first; `run` is `pipeline.run`."""
    for number in range(2, cfg.dev_folds + 1):
        console.rule(f"dev fold {number} of {cfg.dev_folds}: trained without it, scored on it")
        run(fold_config(cfg, layout, number), force=force)
    console.rule(f"dev fold 1 of {cfg.dev_folds}: the run itself")


def merge_evaluations(parts: Sequence[Evaluation]) -> Evaluation:
    """One dev evaluation from disjoint folds' (each question once): accuracy weighted by questions."""
    n = sum(p.n for p in parts)
    per_question: dict[str, float] = {}
    for part in parts:
        per_question.update(part.per_question)

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
    per_question: dict[str, float] = {}
    for part in parts:
        per_question.update(part.per_question)
    mean = sum(p.mean * p.n for p in parts) / n if n else 0.0
    return parts[0].model_copy(
        update={"data": " + ".join(p.data for p in parts), "mean": mean, "n": n, "per_question": per_question}
    )


def pool_folds(arms: Sequence[Arm], cfg: RunConfig, layout: RunLayout, warnings: list[str]) -> None:
    """Replace each arm's dev evaluations (and likelihoods) by their pool over the k folds, replicate by
    replicate. An arm that a fold's run did not train is left unjudged (no dev figures), and a candidate
    so left is named in `warnings`; the baseline is trained in every fold."""
    folds = [RunLayout(layout.fold(number)) for number in range(2, cfg.dev_folds + 1)]
    for arm in arms:
        dev, likelihood = [], []
        for k, own in enumerate(arm.dev, start=1):
            files = [fold.arm_eval(arm.name, k, "dev") for fold in folds]
            if not all(f.is_file() for f in files):
                break
            dev.append(merge_evaluations([own, *(Evaluation.read(f) for f in files)]))
        for k, own in enumerate(arm.dev_likelihood, start=1):
            files = [fold.arm_likelihood(arm.name, k) for fold in folds]
            if not all(f.is_file() for f in files):
                break
            likelihood.append(merge_likelihoods([own, *(Likelihoods.read(f) for f in files)]))
        if len(dev) == len(arm.dev) and len(likelihood) == len(arm.dev_likelihood):
            arm.dev, arm.dev_likelihood = dev, likelihood
            continue
        missing = [str(f.root) for f in folds if not f.arm_eval(arm.name, 1, "dev").is_file()]
        if arm.name == BASELINE:
            raise RuntimeError(f"the baseline of the dev fold runs {missing} was not evaluated on its fold")
        arm.dev, arm.dev_likelihood = [], []
        if arm.candidate:
            warnings.append(
                f"recipe {arm.name} was not judged: the dev fold runs "
                f"{', '.join(missing) or 'of some folds'} did not train it (their metrics.json say why)"
            )


def crossfit_sentence(cfg: RunConfig, questions: int | None) -> str:
    """What the verdict adds when dev is cross-fitted."""
    where = f"{questions} " if questions else ""
    return (
        f"; dev is cross-fitted over {cfg.dev_folds} folds: its {where}questions are every labeled question, "
        "each scored by models trained without its fold (folds/)"
    )
