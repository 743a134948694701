"""Typed artifacts of a run: what the stages write and what the pipeline, curve, report and cards read.

The JSON on disk keeps its shape: models are dumped with `exclude_unset`, so a key appears exactly when the
writer set it, in the order the fields are declared here (the order the files always had).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict

from seltda.core.fileio import atomic_write_json, read_json


class Artifact(BaseModel):
    """A JSON file of the run folder: written whole (atomically), read back through its model."""

    model_config = ConfigDict(extra="allow")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)

    def write(self, path: Path) -> Path:
        return atomic_write_json(path, self.to_json())

    @classmethod
    def read(cls, path: Path) -> Self:
        return cls.model_validate(read_json(path))


class StageRecord(Artifact):
    """`seltda_stage.json`: a finished stage's config, metrics and environment, plus stage extras.

    Indexing (`record["metrics"]`, `record["synthetic_file"]`) reads fields and extras alike.
    """

    stage: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    env: dict[str, Any]

    @property
    def extras(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def __getitem__(self, key: str) -> Any:
        if key in type(self).model_fields:
            return getattr(self, key)
        return self.extras[key]


class Scores(BaseModel):
    """The summary figures of one evaluation (`accuracy`: the named metric, in percent, 2 decimals)."""

    model_config = ConfigDict(extra="allow")

    accuracy: float
    metric: str | None = None  # the metric under `accuracy` (eval.scorers), e.g. vqa or exact
    exact_match: float | None = None
    warnings: list[str] = []  # e.g. a test set with fewer answers than its metric assumes
    n: int | None = None
    missing: int | None = None
    per_question_type: dict[str, dict[str, Any]] = {}
    per_answer_type: dict[str, dict[str, Any]] = {}


SUMMARY_KEYS = tuple(Scores.model_fields)


class Prediction(BaseModel):
    question_id: str
    answer: str


class Evaluation(Artifact):
    """`eval/<arm>.json`, written by `stages.evaluate` (`evaluate` and `score`)."""

    model: str
    data: str
    accuracy: float
    metric: str = "vqa"
    exact_match: float
    warnings: list[str] = []
    n: int
    missing: int
    left_out: int = 0  # records the metric's official figure leaves out (A-OKVQA: difficult direct answers)
    per_question_type: dict[str, dict[str, Any]] = {}
    per_answer_type: dict[str, dict[str, Any]] = {}
    per_question: dict[str, float] = {}
    suites: dict[str, dict[str, Any]] = {}
    predictions: list[Prediction] = []
    skipped_images: dict[str, int] | None = None  # `evaluate` only
    seconds: float | None = None  # `evaluate` only
    engine: str | None = None  # `evaluate` only: what answered (hf: transformers, vllm)
    unknown_question_ids: int | None = None  # `score` only

    def summary(self) -> Scores:
        """The figures `metrics.json` keeps of this evaluation."""
        return Scores.model_validate(self.model_dump(include=set(SUMMARY_KEYS), exclude_unset=True))

    def answers(self) -> dict[str, str]:
        return {p.question_id: p.answer for p in self.predictions}


class Likelihoods(Artifact):
    """`eval/dev/likelihood/<arm>.json`: per dev question, the log-likelihood (nats) the model gives the
    question's most common reference answer (a teacher-forced pass: `stages.evaluate.answer_likelihoods`)."""

    model: str
    data: str
    mean: float
    n: int
    per_question: dict[str, float] = {}
    skipped_images: dict[str, int] = {}


class Comparison(Artifact):
    """`eval/compare.json` and `metrics.json`'s gain: `eval.metrics.compare_scores` (paired bootstrap)."""

    diff: float
    ci_low: float
    ci_high: float
    p_value: float | None = None
    n: int | None = None
    n_resamples: int | None = None
    confidence: float | None = None
    n_common: int | None = None
    accuracy_a: float | None = None
    accuracy_b: float | None = None


class PseudolabelSummary(BaseModel):
    """What `metrics.json` keeps of a round's pseudo-label manifest, and their accuracy when scored."""

    model_config = ConfigDict(extra="allow")

    images: dict[str, Any] | None = None
    funnel: dict[str, Any] | None = None
    drops: dict[str, Any] | None = None
    accuracy_vs_truth: dict[str, Any] | None = None


class RoundSummary(BaseModel):
    """One SelTDA round in `metrics.json` (runs with rounds >= 2)."""

    round: int
    folder: str
    accuracy: float | None = None
    gain: Comparison | None = None
    pseudolabel_accuracy: float | None = None


class SuiteArms(BaseModel):
    baseline: dict[str, Any] | None = None
    seltda: dict[str, Any] | None = None


class Gain(BaseModel):
    """An arm's gain over the baseline (`eval.intervals.seed_aware_gain`): mean over replicates, its interval
    and what noise the interval covers, and each replicate's gain."""

    model_config = ConfigDict(extra="allow")

    diff: float
    ci_low: float
    ci_high: float
    per_replicate: list[float] = []
    replicates: int = 1
    n: int | None = None
    covers: str | None = None
    # dev gains: the smallest true gain this noise lets the verdict confirm 80% of the time
    detectable: float | None = None

    def in_nats(self) -> str:
        """A log-likelihood gain as text: `+d [low, high] nats`."""
        return f"{self.diff:+.3f} [{self.ci_low:+.3f}, {self.ci_high:+.3f}] nats"


class ArmSummary(BaseModel):
    """One arm of a run (the baseline or a recipe's student): its models and their dev and test scores."""

    model_config = ConfigDict(extra="allow")

    recipe: str | None = None  # a sentence: what the arm is
    candidate: bool = True  # may be shipped (references are reported only)
    models: list[str] = []  # one folder per replicate
    pseudolabels: int | None = None  # synthetic records it could draw from
    dev: float | None = None  # mean accuracy over replicates
    dev_per_replicate: list[float] = []
    test: float | None = None
    test_per_replicate: list[float] = []
    gain_dev: Gain | None = None  # over the baseline
    gain_test: Gain | None = None
    # verdict `accuracy-or-likelihood`: the reference answer's log-likelihood on dev over the baseline's, nats
    gain_dev_likelihood: Gain | None = None


class Shipped(BaseModel):
    """What the run hands over: the arm chosen on dev, its best replicate on dev, and its test accuracy;
    with `refit`, that arm trained again on train + dev (`RunMetrics.refit`)."""

    arm: str
    model: str  # the folder handed over: the refit model, or the chosen replicate
    replicate: int = 1  # which of the arm's replicates was chosen
    accuracy: float | None = None  # test accuracy of `model`
    dev_accuracy: float | None = None  # dev accuracy of the chosen replicate
    refit: bool = False
    selected_model: str | None = None  # the chosen replicate (trained without dev)
    selected_accuracy: float | None = None  # its test accuracy


class Refit(BaseModel):
    """The shipped arm and the baseline trained again on train + dev after the verdict (`refit: true`)."""

    arm: str  # the shipped arm, refit
    model: str  # its refit model folder: what the run ships
    baseline_model: str  # the baseline refit the same way: the reference of `gain`
    records: int  # real records the refit models learned from (train + dev)
    accuracy: float | None = None  # test accuracy of the refit shipped model
    baseline_accuracy: float | None = None
    gain: Comparison | None = None  # refit shipped - refit baseline on test (none when the baseline ships)


class RunMetrics(Artifact):
    """`metrics.json`: the run's evidence, written once by `orchestrate.pipeline.run`."""

    pseudolabels: PseudolabelSummary = PseudolabelSummary()
    baseline: Scores | None = None
    seltda: Scores | None = None
    gain: Comparison | None = None
    suites: dict[str, SuiteArms] | None = None
    rounds: list[RoundSummary] | None = None
    timings_seconds: dict[str, float] = {}
    arms: dict[str, ArmSummary] | None = None  # baseline and every recipe's student, on dev and test
    shipped: Shipped | None = None
    verdict: str | None = None  # why `shipped` was chosen, in a sentence
    refit: Refit | None = None  # the shipped arm and the baseline refit on train + dev (`refit: true`)
    teacher_types: dict[str, dict[str, Any]] | None = None  # per question type on dev: teacher vs baseline
    demo: dict[str, Any] | None = None  # the demo's settings (`seltda demo`)
    warnings: list[str] = []  # what the run could not do as asked (nothing kept, no test set, ...)

    @property
    def evaluated(self) -> bool:
        return self.baseline is not None and self.seltda is not None and self.gain is not None


class BenchmarkCell(BaseModel):
    """One model's figure on one row: the mean over its replicates, each replicate's, and the units."""

    value: float | None = None
    per_replicate: list[float] = []
    n: int = 0  # questions (or rephrasing groups for CS(k)) the figure averages


class BenchmarkRow(BaseModel):
    """One figure of one evaluation set (accuracy, a robustness suite's figure) for every model, and each
    model's gain over the first model with its interval (`eval.intervals.seed_aware_gain`)."""

    set: str
    figure: str  # `accuracy`, `rephrasing CS(k)`, `flag:<flag>`, `numeric`
    label: str  # what the table shows, e.g. `accuracy (vqa)`
    units: str  # what the figure averages: questions or rephrasing groups
    cells: dict[str, BenchmarkCell]
    gains: dict[str, Gain] = {}  # every model but the first


class BenchmarkModel(BaseModel):
    name: str
    replicates: int
    sources: list[str]  # model folders (or predictions files), one per replicate


class BenchmarkSet(BaseModel):
    name: str
    data: str
    metric: str  # the metric under `accuracy` (auto resolved)
    n: int  # questions evaluated


class Benchmark(Artifact):
    """`benchmark.json`, written by `seltda benchmark`: models x evaluation sets, gains over the first."""

    reference: str  # the first model: every gain is over it
    confidence: float
    models: list[BenchmarkModel]
    sets: list[BenchmarkSet]
    rows: list[BenchmarkRow]
    covers: list[
        str
    ] = []  # what the gains' intervals cover (training seeds and test questions, or the latter)
