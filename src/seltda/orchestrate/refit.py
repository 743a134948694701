"""Refit after the verdict: the dev records chose the arm; then they train it too.

Holding out dev costs labels (at 2% of easy-VQA, 148 of 738 questions). Once dev has chosen, the shipped
arm is trained again from the base model on train + dev, with the same settings, seed and pseudo-labels
(the teacher is not retrained: its pseudo-labels are reused as they are), and so is the baseline: the refit
baseline is the model a user would get from all their labels without SelTDA, so it is the reference of
the refit gain. When the baseline is shipped, only the baseline is refit (the gain is then 0 by
definition). The refit models are not scored on dev (they learned it); their test figures are reported
beside the selection's, never used to choose.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from seltda.core.fileio import atomic_write_json, read_json
from seltda.core.records import read_records, write_records
from seltda.eval.metrics import compare_scores
from seltda.orchestrate.arms import BASELINE, Arm, evaluate_once
from seltda.orchestrate.run_config import RunConfig
from seltda.orchestrate.stage_clock import StageClock
from seltda.run.artifacts import Comparison, Refit, Shipped
from seltda.run.layout import RunLayout
from seltda.run.stage import read_stage, stage_complete
from seltda.stages.student import train_student


def refit_reason(cfg: RunConfig, dev: tuple[Path, Path] | None, shipped: Shipped | None) -> str | None:
    """Why the run does not refit (None: it refits)."""
    if not cfg.refit:
        return "refit: false"
    if dev is None or shipped is None:
        return "no dev records, so nothing was chosen"
    if Path(dev[1]) != Path(cfg.images):
        return "the dev images lie under another root than the training images (dev_images)"
    return None


def planned_refits(cfg: RunConfig) -> int:
    """The stages refitting may add: two trainings and two test evaluations at most."""
    return 2 + 2 * (cfg.test is not None) if cfg.refit else 0


def _records_file(layout: RunLayout, train: Path, dev: Path) -> Path:
    """`refit/train.jsonl`: the training records then the dev records (written once)."""
    out = layout.refit / "train.jsonl"
    if not out.is_file():
        write_records(out, [*read_records(train), *read_records(dev)])
    return out


SEED_FILE = "refit_seed.json"


def _clear_other_seed(folder: Path, evaluation: Path, seed: int) -> None:
    """A refit begun with another seed (another replicate was shipped when the run was made again under
    another verdict rule) is stale, finished or interrupted after a checkpoint: it and its test evaluation are
    removed, to be trained again with the shipped replicate's seed, which is written to the folder before
    training starts so that an interrupted refit is recognised too."""
    marker = folder / SEED_FILE
    recorded = seed
    if stage_complete(folder):
        recorded = read_stage(folder)["config"].get("seed")
    elif marker.is_file():
        recorded = read_json(marker).get("seed")
    if recorded != seed:
        print(f"{folder}: refit with another replicate's seed, trained again with seed {seed}")
        shutil.rmtree(folder)
        evaluation.unlink(missing_ok=True)
    if not marker.is_file():
        atomic_write_json(marker, {"seed": seed})


def refit(
    cfg: RunConfig,
    work: RunConfig,
    layout: RunLayout,
    dev: tuple[Path, Path],
    shipped: Shipped,
    arms: list[Arm],
    pool_root: Path | None,
    clock: StageClock,
) -> Refit:
    """Train the shipped arm (and the baseline) on train + dev, evaluate both on test; `work` is the config
    the arms trained with (its `train`: the records without dev)."""
    records = _records_file(layout, work.train, dev[0])
    names = [BASELINE] if shipped.arm == BASELINE else [BASELINE, shipped.arm]
    if len(names) == 1:  # the numbered stage count planned for a student's refit too
        clock.skip("refit_student", "the baseline is shipped", 1 + (cfg.test is not None))
    evaluations = {}
    for name in names:
        arm = next(a for a in arms if a.name == name)
        settings = arm.recipe.student_config(work.student) if arm.recipe else work.student
        if arm.recipe is None:
            settings = settings.model_copy(update={"synthetic_ratio": 0.0})
        folder, seed = layout.refit_model(name), cfg.seed + shipped.replicate - 1
        _clear_other_seed(folder, layout.refit_eval(name), seed)
        clock.run(
            f"refit_{name}",
            stage_complete(folder),
            train_student,
            [records],
            cfg.images,
            folder,
            settings.model_copy(update={"seed": seed}),
            synthetic_file=arm.synthetic if arm.recipe else None,
            synthetic_image_root=pool_root or cfg.images,
        )
        if cfg.test is not None:
            out = layout.refit_eval(name)
            evaluations[name] = clock.run(
                f"eval_refit_{name}",
                out.is_file(),
                evaluate_once,
                folder,
                cfg.test,
                cfg.test_images or cfg.images,
                cfg,
                out,
            )
    result = Refit(
        arm=shipped.arm,
        model=str(layout.refit_model(shipped.arm)),
        baseline_model=str(layout.refit_model(BASELINE)),
        records=len(read_records(records)),
    )
    if evaluations:
        result.accuracy = evaluations[shipped.arm].accuracy
        result.baseline_accuracy = evaluations[BASELINE].accuracy
        if shipped.arm != BASELINE:
            scores = compare_scores(evaluations[BASELINE].per_question, evaluations[shipped.arm].per_question)
            result.gain = Comparison.model_validate(scores)
    return result
