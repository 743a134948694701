"""Chaining the stages: `run` (a user's data, one YAML config) and `demo` (the embedded easy-VQA default).

records -> teacher -> pseudo-labels -> student (and baseline) -> evaluation -> metrics.json.
Every stage writes into the run folder and is skipped when already complete, so a rerun resumes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from seltda.core.errors import describe_validation
from seltda.core.fileio import (
    SeltdaInputError,
    atomic_write_json,
    atomic_write_text,
    environment_info,
)
from seltda.core.records import Record, read_records
from seltda.eval.metrics import compare_scores
from seltda.formats import write_hf_dataset
from seltda.models.registry import PRETRAINED_TINY
from seltda.models.tiny_blip import SCRATCH_TINY, TinyBlipConfig, build_tiny_blip
from seltda.models.vocabulary import VocabularyExtension, extend_vocabulary
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
from seltda.stages.evaluate import EvaluateConfig, evaluate
from seltda.stages.pseudolabel import pseudolabel
from seltda.stages.pseudolabel.config import PseudoLabelConfig
from seltda.stages.student import train_student
from seltda.stages.student_config import StudentConfig
from seltda.stages.teacher import train_teacher
from seltda.stages.teacher_config import TeacherConfig


class RunConfig(BaseModel):
    """A whole SelTDA run on a user's data."""

    model_config = ConfigDict(extra="forbid")

    out: Path
    train: Path  # labeled records (JSONL)
    images: Path  # image root of the records
    unlabeled_images: Path | None = None  # root of the unlabeled pool (default: `images`)
    unlabeled_list: Path | None = None  # image paths (relative to the pool root), default: scan the root
    test: Path | None = None  # test records
    test_images: Path | None = None  # default: `images`
    model: str | None = None  # VLM folder or hub id; None: tiny-blip-pretrained, fitted to the labeled texts
    tiny: TinyBlipConfig = TinyBlipConfig()
    seed: int = 0
    teacher: TeacherConfig = TeacherConfig()
    pseudolabel: PseudoLabelConfig = PseudoLabelConfig()
    student: StudentConfig = StudentConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    rounds: int = Field(
        1, ge=1
    )  # rounds >= 2: the last student starts a new teacher, which relabels the pool
    teacher_on_pseudolabels: bool = False  # later rounds' teachers also learn from the previous pseudo-labels


def load_run_config(path: Path) -> RunConfig:
    """Read a YAML run config; errors name the file and the field."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise SeltdaInputError(f"{path}: cannot read YAML: {error}") from error
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as error:
        raise SeltdaInputError(f"{path}: {describe_validation(error)}") from error


def _stage_models(cfg: RunConfig, base: str) -> RunConfig:
    """Point every stage at the base VLM and the run's seed."""
    updates = {"model": base, "seed": cfg.seed}
    return cfg.model_copy(
        update={
            "teacher": cfg.teacher.model_copy(update=updates),
            "student": cfg.student.model_copy(update=updates),
            "pseudolabel": cfg.pseudolabel.model_copy(update={"seed": cfg.seed}),
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


def _timed(timings: dict[str, float], name: str, fn, *args, **kwargs) -> Any:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    timings[name] = round(time.perf_counter() - start, 2)
    return result


def _evaluate_once(model: Path, cfg: RunConfig, out_file: Path) -> Evaluation:
    """The model's evaluation: read back when a previous run finished it, else run (and written) now."""
    if out_file.exists():
        return Evaluation.read(out_file)
    result = evaluate(str(model), cfg.test, cfg.test_images or cfg.images, out_file, cfg.evaluate)
    return Evaluation.model_validate(result)


def run(
    cfg: RunConfig,
    score_pseudolabels: Callable[[list[Record]], dict] | None = None,
    demo: dict[str, Any] | None = None,
) -> dict:
    """Run the whole chain; writes `metrics.json` (once, at the end) and returns what it holds.

    Round 1 lives in the run folder itself; round r >= 2 in `round<r>/`, its teacher fine-tuned from
    round r-1's student. `score_pseudolabels`, when the pool's truth is known (experiments), scores the
    kept pseudo-labels of every round. `demo`: the demo's settings, recorded under `demo`.
    """
    layout = RunLayout(cfg.out)
    layout.root.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    base = _timed(timings, "base", build_base_model, cfg)
    cfg = _stage_models(cfg, base)
    atomic_write_text(layout.config, yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    atomic_write_json(layout.env, environment_info())
    baseline_cfg = cfg.student.model_copy(update={"synthetic_ratio": 0.0})
    _timed(timings, "baseline", train_student, [cfg.train], cfg.images, layout.baseline, baseline_cfg)
    baseline = None
    if cfg.test is not None:
        baseline = _timed(
            timings, "eval_baseline", _evaluate_once, layout.baseline, cfg, layout.baseline_eval
        )
    rounds = []
    for number in range(1, cfg.rounds + 1):
        previous = layout.round(number - 1) if number > 1 else None
        rounds.append(
            _seltda_round(cfg, layout, layout.round(number), previous, baseline, timings, score_pseudolabels)
        )
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
    metrics.timings_seconds = timings
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


def _seltda_round(
    cfg: RunConfig,
    run_layout: RunLayout,
    layout: RoundLayout,
    previous: RoundLayout | None,
    baseline: Evaluation | None,
    timings: dict[str, float],
    score_pseudolabels: Callable[[list[Record]], dict] | None,
) -> _RoundResult:
    """One SelTDA round: teacher -> pseudo-labels -> student (from the base VLM) -> evaluation."""
    pool_root = cfg.unlabeled_images or cfg.images
    suffix = layout.suffix
    teacher_cfg = cfg.teacher
    earlier_pseudolabels = None
    earlier_root = pool_root
    if previous is not None:  # the last student starts the new teacher
        teacher_cfg = cfg.teacher.model_copy(update={"model": str(previous.student)})
        if cfg.teacher_on_pseudolabels:
            earlier = PseudoLabelFolder(previous.pseudolabels)
            earlier_pseudolabels = earlier.records
            earlier_root = Manifest.read(earlier.manifest).image_root or pool_root
    _timed(
        timings,
        "teacher" + suffix,
        train_teacher,
        cfg.train,
        cfg.images,
        layout.teacher,
        teacher_cfg,
        synthetic_file=earlier_pseudolabels,
        synthetic_image_root=earlier_root,
    )
    pseudolabel_cfg = cfg.pseudolabel
    if pseudolabel_cfg.roundtrip_model == "baseline":  # the run's own baseline checks the pairs
        pseudolabel_cfg = pseudolabel_cfg.model_copy(update={"roundtrip_model": str(run_layout.baseline)})
    outcome = _timed(
        timings,
        "pseudolabel" + suffix,
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
    _timed(
        timings,
        "student" + suffix,
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
    result = _RoundResult(layout, summary)
    if baseline is not None:
        student = _timed(
            timings, "eval_student" + suffix, _evaluate_once, layout.student, cfg, layout.student_eval
        )
        comparison = Comparison.model_validate(compare_scores(baseline.per_question, student.per_question))
        comparison.write(layout.compare)
        result.evaluation, result.gain = student, comparison
    return result


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
    for role, folder in RunLayout(cfg.out).trained().items():
        write_model_card(folder, role, base, str(cfg.train), settings[role], metrics)
