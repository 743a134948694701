"""benchmarks/extra_arms.py: a recipe added to a finished point, in a copy, trains only its own student."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import tiny_run_config

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from extra_arms import add_arms, written  # noqa: E402

from seltda.core.fileio import SeltdaInputError  # noqa: E402
from seltda.orchestrate.pipeline import run  # noqa: E402
from seltda.run.stage import read_stage  # noqa: E402


def test_an_added_recipe_trains_its_student_in_a_copy_and_retrains_nothing_else(
    dataset, tiny_model, tmp_path
):
    point = tmp_path / "curve" / "fraction-0.5" / "seed-0"
    settings = dict(candidates=["seltda"], references=["plain"], refit=False, model="tiny-blip-scratch")
    run(tiny_run_config(dataset, tiny_model, point, **settings))  # its base model built in the point
    before = (point / "metrics.json").read_text()
    recipe = written({"name": "plain-long", "like": "plain", "student": {"max_steps": 3}})
    assert recipe.student == {"synthetic_ratio": 1.0, "max_steps": 3}  # `like`'s overrides, then the new ones
    assert recipe.pseudolabel == written({"name": "p", "like": "plain"}).pseudolabel != {}

    metrics = add_arms(point, tmp_path / "more", [recipe])
    copy = tmp_path / "more" / "fraction-0.5" / "seed-0"
    assert (point / "metrics.json").read_text() == before  # the original point is left as it was
    assert list(metrics["arms"]) == ["baseline", "seltda", "plain", "plain-long"]
    assert metrics["arms"]["plain-long"]["candidate"] is False  # a reference: the verdict is the point's
    shipped = json.loads(before)["shipped"]
    assert (
        metrics["shipped"]["arm"] == shipped["arm"] and metrics["shipped"]["accuracy"] == shipped["accuracy"]
    )
    assert read_stage(copy / "arms" / "plain-long" / "student")["config"]["max_steps"] == 3
    for folder in ("baseline", "teacher", "student", "arms/plain/student"):  # copied, not retrained
        assert read_stage(copy / folder) == read_stage(point / folder), folder
        assert (copy / folder / "model.safetensors").read_bytes() == (
            point / folder / "model.safetensors"
        ).read_bytes()
    assert read_stage(copy / "arms" / "plain-long" / "student")["config"]["model"] == str(copy / "base")
    again = add_arms(point, tmp_path / "more", [recipe])  # a rerun resumes: nothing trained again
    assert again["arms"]["plain-long"] == metrics["arms"]["plain-long"]
    changed = written({"name": "plain-long", "like": "plain", "student": {"max_steps": 4}})
    with pytest.raises(
        SeltdaInputError, match="plain-long"
    ):  # a changed recipe of that name: refused as stale
        add_arms(point, tmp_path / "more", [changed])
