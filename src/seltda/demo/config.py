"""The settings of the embedded default (easy-VQA with the pretrained tiny BLIP)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from seltda.models.tiny_blip import TinyBlipConfig
from seltda.orchestrate.run_config import Preference, VerdictRule, check_dev_folds, dev_folds_value


class DemoConfig(BaseModel):
    """The embedded default: easy-VQA, a labeled fraction of its train images, the tiny BLIP."""

    model_config = ConfigDict(extra="forbid")

    out: Path = Field(Path("runs/demo"), description="run folder")
    labeled_fraction: float = Field(
        0.02,
        gt=0,
        le=1,
        description="share of easy-VQA train images labeled (2%: where SelTDA measured its gain)",
    )
    seed: int = Field(0, description="random seed (split, training, sampling)")
    threads: int | None = Field(
        1,
        ge=1,
        description="torch's CPU threads (None: the machine's setting); fixed, so OMP_NUM_THREADS and the "
        "core count do not change the demo's models and verdict, and at 1 the demo reproduces the "
        "benchmarks' one-thread runs (docs/benchmarks.md (u))",
    )
    workers: int = Field(
        2,
        ge=1,
        description="processes that train at once (the teacher beside the baseline, one student beside "
        "another), each with `threads` threads: the same models as with 1, in less time on 2 free cores",
    )
    steps: int = Field(600, ge=1, description="optimizer steps per trained model")
    learning_rate: float | None = Field(
        None, gt=0, description="peak learning rate of every trained model (default: the training config's)"
    )
    per_image: int = Field(3, ge=1, description="pseudo-labels sampled per unlabeled image")
    test_limit: int | None = Field(None, ge=1, description="first N test questions (default: all 9,673)")
    pool_limit: int | None = Field(None, ge=1, description="first N unlabeled images (default: all)")
    base: Literal["scratch", "pretrained"] = Field(
        "pretrained",
        description="start from the tiny BLIP pretrained on the synthetic corpus, or random weights",
    )
    pretrained_model: Path | None = Field(
        None, description="pretrained tiny BLIP folder (default: the shipped weights)"
    )
    tiny: TinyBlipConfig = TinyBlipConfig()
    rounds: int = Field(
        1, ge=1, description="SelTDA rounds (round r's teacher starts from round r-1's student)"
    )
    plain_recipe: bool = Field(False, description="the paper's recipe: no confidence filter, no yes/no cap")
    replicates: int = Field(1, ge=1, description="models trained per arm (seeds seed, seed+1, ...)")
    candidates: list[str] | None = Field(
        None,
        description="recipes that may be shipped, most preferred first (default: the run's, probed, "
        "grounded, agreed and seltda)",
    )
    prefer: Preference | None = Field(
        None,
        description="which confirmed candidate ships: listed (the first in candidates' order) or dev-gain "
        "(default: the run's, listed)",
    )
    references: list[str] = Field([], description="recipes reported beside them, never shipped (e.g. plain)")
    verdict: VerdictRule | None = Field(
        None,
        description="what chooses on dev: accuracy-or-likelihood or accuracy (default: the run's, "
        "accuracy-or-likelihood)",
    )
    refit: bool = Field(
        False,
        description="refit the shipped arm and the baseline on train + dev (runs do by default; the demo "
        "does not, to stay within its time: two more trainings)",
    )
    dev_fraction: float | None = Field(
        None, ge=0, lt=1, description="labeled images held out as dev (default: the run's, 0.2)"
    )
    dev_folds: str | None = Field(
        None,
        description="k >= 2: dev cross-fitted over k folds, k runs; 0: one held-out split; auto: "
        "cross-fitted when a held-out split would be small (default: the run's, auto)",
    )

    @field_validator("dev_folds", mode="before")
    @classmethod
    def _folds(cls, value: str | int | None) -> str | None:
        checked = check_dev_folds(dev_folds_value(value))
        return None if checked is None else str(checked)

    data_dir: Path | None = Field(
        None, description="where easy-VQA is exported (default: OUT/data; curves share one)"
    )
