"""Chaining the stages: `run` (a user's data, one YAML config) and `demo` (the embedded easy-VQA default).

records -> teacher -> pseudo-labels -> student (and baseline) -> evaluation -> metrics.json.
Every stage writes into the run folder and is skipped when already complete, so a rerun resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seltda.core.fileio import atomic_write_json, atomic_write_text, environment_info
from seltda.core.records import Record, read_records
from seltda.eval.metrics import compare_scores
from seltda.formats import write_hf_dataset
from seltda.models.registry import PRETRAINED_TINY, parameter_count
from seltda.models.tiny_blip import SCRATCH_TINY, build_tiny_blip
from seltda.models.vocabulary import VocabularyExtension, extend_vocabulary
from seltda.orchestrate.ahead import Ahead
from seltda.orchestrate.arms import arms_of, evaluate_once, planned_trainings, train_arm
from seltda.orchestrate.crossfit import resolve_dev_folds, run_folds
from seltda.orchestrate.preflight import check_inputs, clear_stale, input_digests, refuse_stale
from seltda.orchestrate.refit import planned_refits, refit, refit_reason
from seltda.orchestrate.run_config import RunConfig, load_run_config  # noqa: F401  (re-exported)
from seltda.orchestrate.selection import compare_arms, prepare_selection
from seltda.orchestrate.stage_clock import StageClock, console
from seltda.publish.modelcard import write_model_card
from seltda.qa_text import format_target
from seltda.run.artifacts import (
    Comparison,
    Evaluation,
    PseudolabelSummary,
    RoundSummary,
    RunMetrics,
    SuiteArms,
)
from seltda.run.layout import RoundLayout, RunLayout
from seltda.run.pseudolabels import Manifest, PseudoLabelFolder
from seltda.run.stage import stage_complete, write_stage
from seltda.stages.pseudolabel import pseudolabel
from seltda.stages.student import train_student
from seltda.stages.teacher import train_teacher


def _base_parameters(cfg: RunConfig) -> int:
    """The base VLM's size, which an unset learning rate is chosen by (`TrainingConfig.with_learning_rate`):
    counted from the configured model's config; a fitted tiny BLIP is the shipped one with a few more words;
    a random one trains from scratch, at the small-model rate."""
    if cfg.model == SCRATCH_TINY:
        return 0
    return parameter_count(PRETRAINED_TINY if cfg.model is None else cfg.model)


def _stage_models(cfg: RunConfig, base: str) -> RunConfig:
    """Point every stage at the base VLM and the run's seed, with the learning rate set when the config
    leaves it to the model's size (so the run's config records it); a run labels its pool in one job, even
    inside a Slurm array (one run per array task)."""
    updates = {"model": base, "seed": cfg.seed}
    one_job = {"num_tasks": cfg.pseudolabel.num_tasks or 1, "task_index": cfg.pseudolabel.task_index or 0}
    unset = cfg.teacher.learning_rate is None or cfg.student.learning_rate is None
    parameters = _base_parameters(cfg) if unset else 0
    return cfg.model_copy(
        update={
            "teacher": cfg.teacher.model_copy(update=updates).with_learning_rate(parameters),
            "student": cfg.student.model_copy(update=updates).with_learning_rate(parameters),
            "pseudolabel": cfg.pseudolabel.model_copy(update={"seed": cfg.seed, **one_job}),
        }
    )


def build_base_model(cfg: RunConfig) -> str:
    """The VLM both arms start from: the configured one, or a named tiny BLIP fitted to the data.

    `model` omitted or `tiny-blip-pretrained`: the shipped pretrained tiny BLIP, its vocabulary extended
    to the labeled texts; `tiny-blip-scratch`: a random tiny BLIP (`cfg.tiny`) with a vocabulary from
    them. Either is written once into the run's base folder; any other model is used as it is.
    """
    model = cfg.model or PRETRAINED_TINY
    if model not in (PRETRAINED_TINY, SCRATCH_TINY):
        return model
    folder = RunLayout(cfg.out).base
    if not stage_complete(folder):
        texts = [format_target(r) for r in read_records(cfg.train)]
        if model == SCRATCH_TINY:
            build_tiny_blip(folder, texts, cfg.tiny, seed=cfg.seed)
            write_stage(folder, "base", cfg.tiny, {"records": len(texts)})
        else:
            extension = extend_vocabulary(model, texts, folder, seed=cfg.seed)
            source = VocabularyExtension(model=model, source=extension.pop("source"))
            write_stage(folder, "base", source, {"records": len(texts), **extension})
    return str(folder)


def base_name(cfg: RunConfig) -> str:
    """Where the base VLM comes from, known before it is built: the configured model, or the run's `base/`."""
    fitted = cfg.model in (None, PRETRAINED_TINY, SCRATCH_TINY)  # built into the run's base/ folder
    return str(RunLayout(cfg.out).base) if fitted else str(cfg.model)


def run(
    cfg: RunConfig,
    score_pseudolabels: Callable[[list[Record]], dict] | None = None,
    demo: dict[str, Any] | None = None,
    force: bool = False,
) -> dict:
    """Run the whole chain; writes `metrics.json` (once, at the end) and returns what it holds.

    Round 1 lives in the run folder itself; round r >= 2 in `round<r>/`, its teacher fine-tuned from
    round r-1's student. `score_pseudolabels`, when the pool's truth is known (experiments), scores the
    kept pseudo-labels of every round. `demo`: the demo's settings, recorded under `demo`.

    Before any training the inputs are checked (`preflight.check_inputs`), and a run folder whose finished
    stages were made with other settings is refused, or with `force` those stages and what follows them
    are deleted and retrained. `cfg.threads` sets torch's thread count for the run (restored after);
    `cfg.workers` > 1 trains independent stages in as many processes at once (`orchestrate.ahead`).
    """
    import torch

    previous_threads = torch.get_num_threads()
    threads = cfg.threads
    if threads is None and cfg.workers > 1:  # the cores shared between the processes that train at once
        threads = max(1, previous_threads // cfg.workers)
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run(cfg, score_pseudolabels, demo, force, torch.get_num_threads(), previous_threads)
    finally:
        torch.set_num_threads(previous_threads)


def _run(
    cfg: RunConfig,
    score_pseudolabels: Callable[[list[Record]], dict] | None,
    demo: dict[str, Any] | None,
    force: bool,
    threads: int,
    caller_threads: int,
) -> dict:
    layout = RunLayout(cfg.out)
    check_inputs(cfg)  # every path, the records, the pool and the model, before any training
    cfg = resolve_dev_folds(cfg)  # `auto`: cross-fitted when a held-out dev would be small
    resolved = _stage_models(cfg, base_name(cfg))
    digests = input_digests(resolved)  # compared with the recorded ones, then recorded: hashed once
    if force:
        clear_stale(resolved, digests)
    else:
        refuse_stale(resolved, digests)
    previous = RunMetrics.read(layout.metrics).timings_seconds if layout.metrics.is_file() else {}
    layout.root.mkdir(parents=True, exist_ok=True)
    warnings: list[str] = []
    work, dev = prepare_selection(cfg, layout, warnings)  # `work`: cfg training on the train part only
    if dev is not None and cfg.dev_folds >= 2:  # the other folds' runs first: the verdict pools them
        run_folds(cfg, layout, run, force, caller_threads)
    teacher_on_dev = dev is not None  # the teacher answers the dev questions: `teacher_types`
    per_round = 3 + (cfg.test is not None)
    stages = 2 + per_round * cfg.rounds + planned_trainings(cfg) + teacher_on_dev + 1  # round 1's student
    # is evaluated among the arms (`evaluate_arms`), the baseline on its own (`eval_baseline`)
    stages += (planned_refits(cfg) + cfg.reads_likelihood) if dev is not None else 0
    clock = StageClock(stages, previous)
    with Ahead(cfg.workers, threads, layout.logs, clock) as ahead:  # each worker with the run's threads
        return _stages(cfg, work, dev, layout, clock, ahead, warnings, digests, score_pseudolabels, demo)


def _stages(
    cfg: RunConfig,
    work: RunConfig,
    dev: tuple[Path, Path] | None,
    layout: RunLayout,
    clock: StageClock,
    ahead: Ahead,
    warnings: list[str],
    digests: dict,
    score_pseudolabels: Callable[[list[Record]], dict] | None,
    demo: dict[str, Any] | None,
) -> dict:
    """The stages in order, those independent of the one running started in `ahead`'s second process."""
    base = clock.run(
        "base", stage_complete(layout.base) or base_name(cfg) != str(layout.base), build_base_model, work
    )
    cfg, work = _stage_models(cfg, base), _stage_models(work, base)
    atomic_write_text(layout.config, yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    atomic_write_json(layout.inputs, digests)
    atomic_write_json(layout.env, environment_info())
    arms = arms_of(cfg, layout)
    round1 = layout.round(1)
    ahead.run("teacher", round1.teacher, train_teacher, *_teacher_call(work, round1, None))  # beside baseline
    train_arm(arms[0], work, work.train, work.images, ahead, only_first=True)
    baseline = None
    if cfg.test is not None:
        baseline = clock.run(
            "eval_baseline",
            layout.baseline_eval.is_file(),
            evaluate_once,
            layout.baseline,
            cfg.test,
            cfg.test_images or cfg.images,
            cfg,
            layout.baseline_eval,
        )
    else:
        warnings.append("no test records (test: null): the models were not evaluated on test")
    rounds = []
    for number in range(1, cfg.rounds + 1):
        previous = layout.round(number - 1) if number > 1 else None
        here = layout.round(number)
        rounds.append(_seltda_round(work, layout, here, previous, clock, ahead, score_pseudolabels))
    known = {layout.baseline_eval: baseline} if baseline is not None else {}
    selection = compare_arms(work, layout, arms, dev, rounds[0].pool_root, clock, warnings, known, ahead)
    if baseline is not None:  # after the arms: round 1's student may have trained beside them
        for result in rounds:
            _evaluate_round(work, result, baseline, clock, ahead, known)
    first = rounds[0]
    metrics = RunMetrics(pseudolabels=first.pseudolabels)
    if baseline is not None and first.evaluation is not None:
        metrics.baseline = baseline.summary()
        metrics.seltda = first.evaluation.summary()
        metrics.gain = first.gain
        metrics.suites = {
            name: SuiteArms(baseline=suite, seltda=first.evaluation.suites.get(name))
            for name, suite in baseline.suites.items()
        }
    warnings += ahead.warnings
    if cfg.rounds > 1:
        metrics.rounds = [
            RoundSummary(
                round=r.layout.number,
                folder=str(r.layout.root),
                accuracy=r.evaluation.accuracy if r.evaluation is not None else None,
                gain=r.gain,
                pseudolabel_accuracy=(r.pseudolabels.accuracy_vs_truth or {}).get("accuracy"),
            )
            for r in rounds
        ]
    metrics.arms, metrics.shipped, metrics.verdict, metrics.teacher_types = selection
    why_not = refit_reason(cfg, dev, metrics.shipped)
    if why_not is None:
        metrics.refit = refit(cfg, work, layout, dev, metrics.shipped, arms, first.pool_root, clock)
        metrics.shipped = metrics.shipped.model_copy(
            update={"model": metrics.refit.model, "accuracy": metrics.refit.accuracy, "refit": True}
        )
        metrics.verdict += f"; then refit on train + dev ({metrics.refit.records} records)"
    elif cfg.refit and metrics.shipped is not None:
        warnings.append(f"the shipped model was not refit on train + dev: {why_not}")
    metrics.timings_seconds = clock.timings
    warnings += [w for r in rounds for w in r.warnings]
    for warning in warnings:
        console.print(f"[bold yellow]warning:[/] {warning}")
    if warnings:
        metrics.warnings = warnings
    if demo is not None:
        metrics.demo = demo
    metrics.write(layout.metrics)
    write_model_cards(cfg, base, metrics)
    return metrics.to_json()


@dataclass
class _RoundResult:
    layout: RoundLayout
    pseudolabels: PseudolabelSummary
    evaluation: Evaluation | None = None  # the student's, when the run has test records
    gain: Comparison | None = None
    warnings: list[str] = field(default_factory=list)
    pool_root: Path | None = None  # where the pseudo-labels' images are


def _teacher_call(cfg: RunConfig, layout: RoundLayout, previous: RoundLayout | None) -> tuple:
    """`train_teacher`'s arguments for a round: round r >= 2 starts from round r-1's student (and with
    `teacher_on_pseudolabels` also learns from its pseudo-labels)."""
    pool_root = cfg.unlabeled_images or cfg.images
    teacher_cfg, earlier_pseudolabels, earlier_root = cfg.teacher, None, pool_root
    if previous is not None:  # the last student starts the new teacher
        teacher_cfg = cfg.teacher.model_copy(update={"model": str(previous.student)})
        if cfg.teacher_on_pseudolabels:
            earlier = PseudoLabelFolder(previous.pseudolabels)
            earlier_pseudolabels = earlier.records
            earlier_root = Manifest.read(earlier.manifest).image_root or pool_root
    return cfg.train, cfg.images, layout.teacher, teacher_cfg, earlier_pseudolabels, earlier_root


def _seltda_round(
    cfg: RunConfig,
    run_layout: RunLayout,
    layout: RoundLayout,
    previous: RoundLayout | None,
    clock: StageClock,
    ahead: Ahead,
    score_pseudolabels: Callable[[list[Record]], dict] | None,
) -> _RoundResult:
    """One SelTDA round: teacher -> pseudo-labels -> student (from the base VLM), which may still be
    training in `ahead`'s second process when it returns (`_evaluate_round` waits for it)."""
    pool_root = cfg.unlabeled_images or cfg.images
    suffix = layout.suffix
    if previous is not None:
        ahead.wait(previous.student)
    if not ahead.wait(layout.teacher):  # round 1's was started beside the baseline
        clock.run(
            "teacher" + suffix,
            stage_complete(layout.teacher),
            train_teacher,
            *_teacher_call(cfg, layout, previous),
        )
    pseudolabel_cfg = cfg.pseudolabel
    if pseudolabel_cfg.roundtrip_model == "baseline":  # the run's own baseline checks the pairs
        pseudolabel_cfg = pseudolabel_cfg.model_copy(update={"roundtrip_model": str(run_layout.baseline)})
    outcome = clock.run(
        "pseudolabel" + suffix,
        PseudoLabelFolder(layout.pseudolabels).manifest.is_file(),
        pseudolabel,
        str(layout.teacher),
        pool_root,
        layout.pseudolabels,
        pseudolabel_cfg,
        cfg.unlabeled_list,
    )
    manifest = outcome.manifest
    if manifest is None:  # another rank merges, or another task's shards are missing
        raise RuntimeError(f"pseudo-labels not merged ({outcome.status}): run `seltda run` in one process")
    pool_root = Path(manifest.image_root or pool_root)  # a `datasets` pool was written as files
    synthetic_file = PseudoLabelFolder(layout.pseudolabels).records
    ahead.run(
        "student" + suffix,
        layout.student,
        train_student,
        [cfg.train],
        cfg.images,
        layout.student,
        cfg.student,
        synthetic_file=synthetic_file,
        synthetic_image_root=pool_root,
    )
    if not layout.pseudolabel_dataset.exists():  # Hub-ready copy: images embedded
        write_hf_dataset(read_records(synthetic_file), pool_root, layout.pseudolabel_dataset)
    summary = PseudolabelSummary(**manifest.model_dump(mode="json", include={"images", "funnel", "drops"}))
    if score_pseudolabels is not None:
        summary.accuracy_vs_truth = score_pseudolabels(read_records(synthetic_file))
    result = _RoundResult(layout, summary, pool_root=pool_root)
    if not manifest.funnel.get("kept"):
        result.warnings.append(
            f"round {layout.number}: pseudo-labeling kept no pair ({_funnel(manifest.funnel)}): the student "
            "learned from the real records only, as the baseline did"
        )
    return result


def _evaluate_round(
    cfg: RunConfig,
    result: _RoundResult,
    baseline: Evaluation,
    clock: StageClock,
    ahead: Ahead,
    known: dict[Path, Evaluation],
) -> None:
    """The round's student on test (read from `known` when the arms' evaluation holds it), and its gain."""
    layout = result.layout
    ahead.wait(layout.student)
    out = layout.student_eval
    student = known.get(out) or clock.run(
        "eval_student" + layout.suffix,
        out.is_file(),
        evaluate_once,
        layout.student,
        cfg.test,
        cfg.test_images or cfg.images,
        cfg,
        out,
    )
    comparison = Comparison.model_validate(compare_scores(baseline.per_question, student.per_question))
    comparison.write(layout.compare)
    result.evaluation, result.gain = student, comparison


def _funnel(funnel: dict[str, int]) -> str:
    return " -> ".join(f"{stage} {count}" for stage, count in funnel.items())


def write_model_cards(cfg: RunConfig, base: str, metrics: RunMetrics) -> None:
    """A Hugging Face model card in each trained model folder, with the run's evidence."""
    settings = {
        "teacher": cfg.teacher.model_dump(mode="json"),
        "baseline": {**cfg.student.model_dump(mode="json"), "synthetic_ratio": 0.0},
        "student": {
            **cfg.student.model_dump(mode="json"),
            "pseudolabel": cfg.pseudolabel.model_dump(mode="json"),
        },
    }
    test = str(cfg.test) if cfg.test is not None else None
    trained = RunLayout(cfg.out).trained()
    for role, folder in trained.items():
        write_model_card(folder, role, base, str(cfg.train), settings[role], metrics, test_data=test)
    shipped = metrics.shipped
    if shipped is not None and Path(shipped.model) not in trained.values():  # another arm or replicate
        role = "baseline" if shipped.arm == "baseline" else "student"
        write_model_card(Path(shipped.model), role, base, str(cfg.train), settings[role], metrics, test)
