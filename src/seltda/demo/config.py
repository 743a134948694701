"""The settings of the embedded default (easy-VQA with the pretrained tiny BLIP)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from seltda.models.tiny_blip import TinyBlipConfig


class DemoConfig(BaseModel):
    """The embedded default: easy-VQA, a labeled fraction of its train images, the tiny BLIP."""

    model_config = ConfigDict(extra="forbid")

    out: Path = Path("runs/demo")
    labeled_fraction: float = 0.02  # scarce labels: where SelTDA measured its gain (docs/benchmarks.md)
    seed: int = 0
    steps: int = 600
    per_image: int = 3
    test_limit: int | None = None  # None: the full 9,673-question test set
    pool_limit: int | None = None  # None: every unlabeled train image
    base: Literal["scratch", "pretrained"] = "pretrained"  # pretrained on the synthetic corpus, or random
    pretrained_model: Path | None = None  # default: the shipped weights, else pretrain into runs/.cache
    tiny: TinyBlipConfig = TinyBlipConfig()
    rounds: int = Field(1, ge=1)
    plain_recipe: bool = False  # the paper's recipe: no confidence filter, no yes/no cap
    data_dir: Path | None = None  # where easy-VQA is exported (default: `out/data`); shared by curves
