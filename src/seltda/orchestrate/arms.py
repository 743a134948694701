"""The arms a run compares: the baseline and each recipe's student, each trained `replicates` times.

Replicate k of every arm trains with seed `seed + k - 1`, so replicate k of the baseline and of a student
form a pair. Every arm's models are evaluated on dev (when the run has dev records) and on the test records;
the run's own recipe (`seltda`) reuses round 1's pseudo-labels and student.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from seltda.core.fileio import atomic_write_bytes, atomic_write_json
from seltda.core.records import read_records, write_records
from seltda.eval.question_types import TypeIndex
from seltda.orchestrate.agree import agreed, baseline_answers
from seltda.orchestrate.ahead import Ahead
from seltda.orchestrate.aim import aim
from seltda.orchestrate.ground import grounded, grounding
from seltda.orchestrate.probe import probed
from seltda.orchestrate.recipes import BASELINE, Recipe
from seltda.orchestrate.run_config import RunConfig
from seltda.run.artifacts import Evaluation, Likelihoods
from seltda.run.layout import RunLayout
from seltda.run.pseudolabels import RUN_KEYS, Manifest, PseudoLabelFolder
from seltda.run.stage import stage_complete
from seltda.stages.evaluate import answer_likelihoods, evaluate
from seltda.stages.pseudolabel.merge import merge
from seltda.stages.student import train_student


@dataclass
class Arm:
    """An arm: its name, whether it may be shipped, its models (one per replicate) and their scores."""

    name: str
    candidate: bool
    recipe: Recipe | None  # None: the baseline
    models: list[Path]
    synthetic: Path | None = None
    dev: list[Evaluation] = field(default_factory=list)
    test: list[Evaluation] = field(default_factory=list)
    dev_likelihood: list[Likelihoods] = field(default_factory=list)  # verdict accuracy-or-likelihood


def evaluate_once(model: Path, records: Path, images: Path, cfg: RunConfig, out_file: Path) -> Evaluation:
    """The model's evaluation: read back when a previous run finished it, else run (and written) now."""
    if out_file.exists():
        return Evaluation.read(out_file)
    return Evaluation.model_validate(evaluate(str(model), records, images, out_file, cfg.evaluate))


def arms_of(cfg: RunConfig, layout: RunLayout) -> list[Arm]:
    """The baseline then every recipe (the run's own first), with their replicates' model folders."""
    replicates = range(1, cfg.replicates + 1)
    arms = [Arm(BASELINE, True, None, [layout.arm_model(BASELINE, k) for k in replicates])]
    for recipe, candidate in cfg.recipes():
        arms.append(
            Arm(recipe.name, candidate, recipe, [layout.arm_model(recipe.name, k) for k in replicates])
        )
    return arms


def trained_judge(recipe: Recipe, layout: RunLayout) -> Path | None:
    """The model that judges the recipe's pairs: the baseline (trained before every arm), or the first
    student of its `judge` arm once trained (None before)."""
    model = layout.arm_model(recipe.judge, 1)
    return model if recipe.judge == BASELINE or stage_complete(model) else None


def synthetic_records(
    arm: Arm,
    cfg: RunConfig,
    layout: RunLayout,
    margins: dict | None,
    index: TypeIndex,
    pool_root: Path | None = None,
) -> Path | None:
    """The arm's pseudo-labels file: the run's own merge, a merge with the recipe's filters (from the same
    shards, no new sampling), then for aimed recipes only the types the teacher knows (needs dev margins),
    for agreed ones only the pairs the judge (the baseline, or the recipe's `judge` arm's first student)
    answers alike, for grounded ones only those whose answer their image supports and for probed ones those
    the probes of its vision features confirm (these need the trained judge: None when it is not)."""
    own = PseudoLabelFolder(layout.pseudolabels)
    recipe = arm.recipe
    if recipe is None or (not recipe.refilters and not recipe.selects):
        return own.records
    folder = PseudoLabelFolder(layout.arm_pseudolabels(recipe.name))
    if folder.records.is_file() or _copied_selection(recipe, cfg, layout, folder):
        return folder.records
    selects, judge = recipe.selects, trained_judge(recipe, layout)
    if selects and judge is None:
        return None  # its judge arm was not trained: nothing to merge or judge yet
    source = own.records
    if recipe.refilters:
        manifest = Manifest.read(own.manifest)
        run = {key: getattr(manifest, key) for key in RUN_KEYS if getattr(manifest, key, None) is not None}
        filtered = folder.root / "filtered" if selects else folder.root
        merge(
            filtered, manifest.shards, recipe.pseudolabel_config(cfg.pseudolabel), run, shards_from=own.root
        )
        source = PseudoLabelFolder(filtered).records
    if not selects:
        return folder.records
    _borrow_judgements(recipe, cfg, layout, folder)
    records = read_records(source)
    if recipe.aimed:
        if margins is None:
            return None  # no dev: the arm cannot be aimed
        records, summary = aim(records, margins, index)
        atomic_write_json(folder.root / "aim.json", summary)
    images = pool_root or cfg.images
    if recipe.agreed and records:
        answers = baseline_answers(
            judge, records, images, cfg.evaluate, folder.root / "baseline_answers.json"
        )
        records, summary = agreed(records, answers, index)
        atomic_write_json(folder.root / "agree.json", summary)
    if recipe.grounded is not None and records:
        scores = grounding(judge, records, images, cfg.evaluate, folder.root / "grounding.json")
        records, summary = grounded(records, scores, recipe.grounded, index)
        atomic_write_json(folder.root / "ground.json", summary)
    if recipe.probed and records:
        train = read_records(cfg.train)
        records, summary = probed(judge, train, cfg.images, records, images, cfg.evaluate, index)
        atomic_write_json(folder.root / "probe.json", summary)
    write_records(folder.records, records)
    return folder.records


def _copied_selection(recipe: Recipe, cfg: RunConfig, layout: RunLayout, folder: PseudoLabelFolder) -> bool:
    """Whether another recipe of the run with the same selection (it differs in the student only) has its
    pseudo-labels made: then they are copied into `folder` (records last, atomically), not judged again."""
    same = (
        PseudoLabelFolder(layout.arm_pseudolabels(other.name))
        for other, _ in cfg.recipes()
        if other.name != recipe.name and other.selection == recipe.selection
    )
    done = next((other for other in same if other.records.is_file()), None)
    if done is None:
        return False
    top = str(done.root)  # its records file, the folder's completion marker, is copied last
    shutil.copytree(
        done.root,
        folder.root,
        ignore=lambda where, names: [done.records.name] if where == top else [],
        dirs_exist_ok=True,
    )
    atomic_write_bytes(folder.records, done.records.read_bytes())
    return True


JUDGEMENTS = ("baseline_answers.json", "grounding.json")  # cached for a model and the very pairs it judged


def _borrow_judgements(recipe: Recipe, cfg: RunConfig, layout: RunLayout, folder: PseudoLabelFolder) -> None:
    """Copy the judge's answers and groundings another recipe of the run has made with the same judge and
    merge filters into `folder` (`probed` after `grounded`): they are read back only where they were made
    for the same model and pairs (`cached_json`), else made again, so a copy never decides anything."""
    for other, _ in cfg.recipes():
        if other.name == recipe.name or (other.judge, other.pseudolabel) != (
            recipe.judge,
            recipe.pseudolabel,
        ):
            continue
        source = layout.arm_pseudolabels(other.name)
        for name in JUDGEMENTS:
            if (source / name).is_file() and not (folder.root / name).exists():
                atomic_write_bytes(folder.root / name, (source / name).read_bytes())


def train_arm(
    arm: Arm,
    cfg: RunConfig,
    train_file: Path,
    pool_root: Path,
    ahead: Ahead,
    skip_first: bool = False,
    only_first: bool = False,
) -> None:
    """Train the arm's replicates (`skip_first`: replicate 1 was trained by round 1; `only_first`: the
    baseline's first, before the rounds): each in `ahead`'s second process when it is free, else here."""
    recipe_cfg = arm.recipe.student_config(cfg.student) if arm.recipe else cfg.student
    if arm.recipe is None:
        recipe_cfg = recipe_cfg.model_copy(update={"synthetic_ratio": 0.0})
    for k, folder in enumerate(arm.models, start=1):
        if (k == 1 and skip_first) or (k > 1 and only_first):
            continue
        suffix = "" if k == 1 else f"_r{k}"
        name = arm.name if arm.name == BASELINE else f"student_{arm.name}"
        ahead.run(
            name + suffix,
            folder,
            train_student,
            [train_file],
            cfg.images,
            folder,
            recipe_cfg.model_copy(update={"seed": cfg.seed + k - 1}),
            synthetic_file=arm.synthetic if arm.recipe else None,
            synthetic_image_root=pool_root,
        )


def _splits(cfg: RunConfig, dev: tuple[Path, Path] | None) -> dict[str, tuple[Path, Path]]:
    splits = {"dev": dev} if dev is not None else {}
    if cfg.test is not None:
        splits["test"] = (cfg.test, cfg.test_images or cfg.images)
    return splits


def evaluated(arms: Sequence[Arm], cfg: RunConfig, layout: RunLayout, dev: tuple[Path, Path] | None) -> bool:
    """Whether every model of every arm has its evaluations on file (a rerun only reads them)."""
    return all(
        layout.arm_eval(arm.name, k, split).is_file()
        for arm in arms
        for k in range(1, len(arm.models) + 1)
        for split in _splits(cfg, dev)
    )


def evaluate_arms(
    arms: Sequence[Arm],
    cfg: RunConfig,
    layout: RunLayout,
    dev: tuple[Path, Path] | None,
    known: dict[Path, Evaluation],
    ahead: Ahead | None = None,
) -> None:
    """Every model of every arm on dev (`dev`: records and image root) and on the test records, each once
    `ahead` has it trained. `known`: the evaluations this process already holds, by file (filled with the
    new ones; none is read back)."""
    splits = _splits(cfg, dev)
    for arm in arms:
        arm.dev, arm.test = [], []
        for k, model in enumerate(arm.models, start=1):
            if ahead is not None:
                ahead.wait(model)
            if not stage_complete(model):
                continue
            for split, (records, images) in splits.items():
                out = layout.arm_eval(arm.name, k, split)
                if out not in known:
                    known[out] = evaluate_once(model, records, images, cfg, out)
                getattr(arm, split).append(known[out])


def likelihoods_scored(arms: Sequence[Arm], layout: RunLayout) -> bool:
    """Whether every trained model has its dev answer likelihoods on file."""
    return all(
        layout.arm_likelihood(arm.name, k).is_file()
        for arm in arms
        for k, model in enumerate(arm.models, start=1)
        if stage_complete(model)
    )


def score_likelihoods(arms: Sequence[Arm], cfg: RunConfig, layout: RunLayout, dev: tuple[Path, Path]) -> None:
    """Every trained model's log-likelihood of each dev question's reference answer (read back when on
    file): what the verdict `accuracy-or-likelihood` compares besides dev accuracy."""
    for arm in arms:
        arm.dev_likelihood = []
        for k, model in enumerate(arm.models, start=1):
            if not stage_complete(model):
                continue
            out = layout.arm_likelihood(arm.name, k)
            if out.is_file():
                arm.dev_likelihood.append(Likelihoods.read(out))
            else:
                arm.dev_likelihood.append(answer_likelihoods(str(model), dev[0], dev[1], cfg.evaluate, out))


def planned_trainings(cfg: RunConfig) -> int:
    """The training stages the arms add to round 1's (the baseline's replicates, every recipe's)."""
    # the baseline's replicates after the first, the run's own recipe's after round 1's, every other's
    return (cfg.replicates - 1) * 2 + (len(cfg.recipes()) - 1) * cfg.replicates
