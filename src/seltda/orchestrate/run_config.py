"""The run config: a whole SelTDA run on a user's data, as one YAML file (`seltda run CONFIG.yaml`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from seltda.core.errors import describe_validation
from seltda.core.fileio import SeltdaInputError
from seltda.models.tiny_blip import TinyBlipConfig
from seltda.orchestrate.recipes import BASELINE, OWN, Recipe, judges_first, resolve_recipe
from seltda.stages.evaluate import EvaluateConfig
from seltda.stages.pseudolabel.config import PseudoLabelConfig
from seltda.stages.student_config import StudentConfig
from seltda.stages.teacher_config import TeacherConfig

# what chooses on dev (`orchestrate.verdict`)
VerdictRule = Literal["accuracy", "accuracy-or-likelihood"]
Preference = Literal["listed", "dev-gain"]


AUTO = "auto"
AUTO_FOLDS = 5  # the k of `dev_folds: auto` when it cross-fits
AUTO_MIN_DEV_QUESTIONS = 100  # `dev_folds: auto` cross-fits when a held-out dev would hold fewer questions
DevFolds = int | Literal["auto"]


def check_dev_folds(value: DevFolds | None) -> DevFolds | None:
    """`dev_folds` is `auto`, 0 (one held-out split) or k >= 2 (`RunConfig` and the demo's config check it
    here)."""
    if value == 1:
        raise ValueError("dev_folds: 1 is no cross-fitting: write 0 (one held-out split), k >= 2 or auto")
    if isinstance(value, int) and value < 0:
        raise ValueError(f"dev_folds: {value} is below 0: write 0 (one held-out split), k >= 2 or auto")
    return value


def dev_folds_value(value: str | int | None) -> DevFolds | None:
    """`dev_folds` as given in text (the command line, a quoted YAML value): `auto` or a whole number."""
    if not isinstance(value, str) or value == AUTO:
        return value
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"dev_folds: {value!r} is neither a number of folds nor auto") from None


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
    # (its vocabulary extended to them); tiny-blip-scratch: random weights of shape `tiny`
    tiny: TinyBlipConfig = TinyBlipConfig()
    seed: int = 0
    threads: int | None = Field(
        None,
        ge=1,
        description="torch's CPU threads for every stage (None: torch's default, the cores or "
        "OMP_NUM_THREADS). The count sets the order of float sums, so a model trained with 1 thread differs "
        "from one trained with 2 as much as a seed does: fix it and the run's result no longer depends on "
        "the machine's setting; above the free cores it slows training many times (docs/benchmarks.md (u))",
    )
    workers: int = Field(
        1,
        ge=1,
        description="processes that train at once: 2 trains the teacher beside the baseline and one recipe's "
        "student beside another's (each process with `threads` threads; without `threads`, the cores shared "
        "between them). Each model is the one a single process trains, so the result does not depend on it; "
        "on 2 free cores the demo's stages take ~0.6x the time (docs/benchmarks.md (w))",
    )
    teacher: TeacherConfig = TeacherConfig()
    pseudolabel: PseudoLabelConfig = PseudoLabelConfig()
    student: StudentConfig = StudentConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    rounds: int = Field(
        1, ge=1
    )  # rounds >= 2: the last student starts a new teacher, which relabels the pool
    teacher_on_pseudolabels: bool = False  # later rounds' teachers also learn from the previous pseudo-labels
    dev: Path | None = Field(
        None, description="validation records that choose what is shipped (default: held out of `train`)"
    )
    dev_images: Path | None = Field(None, description="image root of the dev records (default: `images`)")
    dev_fraction: float = Field(
        0.2,
        ge=0,
        lt=1,
        description="without `dev`: the share of the labeled images (with all their questions) held out as "
        "dev; 0: no dev, nothing is chosen",
    )
    dev_folds: DevFolds = Field(
        AUTO,
        description="without `dev`: k >= 2 cross-fits dev: the labeled images are split into k folds, the "
        "run holds out the first as its dev, and for each other fold a whole run that trains without it is "
        "made first (`folds/`); the verdict compares the arms on every labeled question, each scored by "
        "models that did not train on it: k times the dev questions of `dev_fraction` 1/k, so gains about "
        "sqrt(k) times smaller are seen, for k times the training; 0: one held-out split (`dev_fraction`); "
        f"auto: {AUTO_FOLDS} folds when the held-out split would hold fewer than {AUTO_MIN_DEV_QUESTIONS} "
        "questions, else 0",
    )
    refit: bool = Field(
        True,
        description="after the verdict, train the shipped arm again on train + dev (its pseudo-labels "
        "reused) and the baseline likewise as its reference; the refit model is what the run ships",
    )
    replicates: int = Field(
        1, ge=1, description="models trained per arm with seeds seed, seed+1, ...: intervals with seed noise"
    )
    verdict: VerdictRule = Field(
        "accuracy-or-likelihood",
        description="what chooses on dev: accuracy-or-likelihood (a candidate ships when its dev accuracy "
        "gain's interval lies above 0, or when the log-likelihood it gives the dev questions' reference "
        "answers beats the baseline's beyond noise and its dev accuracy is not below; one more pass over dev "
        "per model), or accuracy (the first condition only: fewer students shipped; docs/benchmarks.md (r))",
    )
    prefer: Preference = Field(
        "listed",
        description="which of the candidates dev confirms ships: listed (the first in `candidates`' order, "
        "since a small dev split confirms a gain but cannot rank recipes a few points apart), or dev-gain "
        "(those confirmed by accuracy first, by their dev accuracy gain, then by likelihood gain; "
        "docs/benchmarks.md (x))",
    )
    candidates: list[str | Recipe] = Field(
        ["probed", "grounded", "agreed", OWN],
        description="recipes that may be shipped (built-in names or written out), in order of preference "
        "(`prefer: listed`); by default probed's pairs are a stricter, more often right subset of "
        "grounded's, grounded's of agreed's, and the run's own filters come last (docs/benchmarks.md (x))",
    )
    references: list[str | Recipe] = Field(
        [], description="recipes trained and reported beside the candidates, never shipped (e.g. plain)"
    )

    @property
    def preference(self) -> list[str] | None:
        """The candidates' names in order of preference (None: the verdict ranks them by dev gain)."""
        return [resolve_recipe(r).name for r in self.candidates] if self.prefer == "listed" else None

    @property
    def reads_likelihood(self) -> bool:
        """Whether the verdict compares the dev answers' likelihood (one more pass over dev per model)."""
        return self.verdict == "accuracy-or-likelihood"

    @field_validator("candidates", "references")
    @classmethod
    def _known_recipes(cls, recipes: list[str | Recipe]) -> list[str | Recipe]:
        for recipe in recipes:
            resolve_recipe(recipe)  # an unknown name fails here, with the known ones
        return recipes

    @field_validator("dev_folds", mode="before")
    @classmethod
    def _folds_as_text(cls, value: str | int) -> DevFolds:
        return dev_folds_value(value)

    @model_validator(mode="after")
    def _each_recipe_once(self) -> RunConfig:
        names = [resolve_recipe(r).name for r in [*self.candidates, *self.references]]
        if len(set(names)) != len(names):
            raise ValueError(f"a recipe is named twice in candidates and references: {names}")
        if BASELINE in names:
            raise ValueError(
                f"no recipe may be named {BASELINE!r}: it is the arm trained on the real records"
            )
        self.recipes()  # an unknown judge, or judges in a cycle, fail here
        check_dev_folds(self.dev_folds)
        if self.dev_folds not in (0, AUTO) and self.dev is not None:
            raise ValueError("dev_folds cross-fits a dev held out of `train`: remove `dev:` or dev_folds")
        return self

    def recipes(self) -> list[tuple[Recipe, bool]]:
        """Every recipe of the run with whether it is a candidate, the run's own first: round 1 always
        trains it (`student/`), so it is reported as a reference when it is not a candidate. A recipe comes
        after its judge, which is added as a reference when the run does not name it."""
        named = [(resolve_recipe(r), True) for r in self.candidates]
        named += [(resolve_recipe(r), False) for r in self.references]
        if all(r.name != OWN for r, _ in named):
            named.insert(0, (resolve_recipe(OWN), False))
        return judges_first(sorted(named, key=lambda item: item[0].name != OWN))


def load_run_config(path: Path) -> RunConfig:
    """Read a YAML run config; errors name the file and the field."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise SeltdaInputError(f"{path}: cannot read YAML: {error}") from error
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as error:
        raise SeltdaInputError(f"{path}: {describe_validation(error)}") from error
    if isinstance(raw, dict) and "test" not in raw:  # an explicit `test: null` is a choice; silence is not
        raise SeltdaInputError(
            f"{path}: no 'test:' records: name them (test: data/test.jsonl) so both models are scored, "
            "or write 'test: null' to train without an evaluation"
        )
    return cfg


def load_recorded_config(path: Path) -> RunConfig:
    """A run folder's `config.yaml` as the run was made: one written before `prefer` existed chose among the
    confirmed candidates by dev gain, and is read with that rule (its candidate list is in no order)."""
    cfg = load_run_config(path)
    if "prefer" not in (yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}):
        cfg = cfg.model_copy(update={"prefer": "dev-gain"})
    return cfg
