"""Recipes: named or written out, relative to the run's own settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from seltda.orchestrate.recipes import BUILTIN, Recipe, resolve_recipe
from seltda.orchestrate.run_config import RunConfig
from seltda.stages.pseudolabel.config import PseudoLabelConfig
from seltda.stages.student_config import StudentConfig


def test_plain_lifts_the_merge_filters_and_keeps_the_rest_of_the_runs_settings():
    own = PseudoLabelConfig(per_image=5, keep_top_fraction=0.3)
    plain = BUILTIN["plain"].pseudolabel_config(own)
    assert plain.keep_top_fraction is None and plain.max_yes_no_share is None and plain.per_image == 5
    assert BUILTIN["plain"].refilters and not BUILTIN["noisy"].refilters
    student = BUILTIN["noisy"].student_config(StudentConfig(max_steps=7))
    assert student.noise and student.max_steps == 7


def test_a_recipe_may_not_change_how_the_pool_was_sampled():
    recipe = Recipe(name="hot", pseudolabel={"top_p": 0.5})
    with pytest.raises(ValueError, match="only the merge filters"):
        recipe.pseudolabel_config(PseudoLabelConfig())


def test_run_configs_name_recipes_or_write_them_out():
    cfg = RunConfig(
        out="o",
        train="t",
        images="i",
        candidates=["aimed", {"name": "ratio3", "student": {"synthetic_ratio": 3}}],
        references=["plain"],
    )
    recipes = [(r.name, candidate) for r, candidate in cfg.recipes()]
    # round 1's student (the run's own recipe) is always trained: reported, not shipped, when not named
    assert recipes == [("seltda", False), ("aimed", True), ("ratio3", True), ("plain", False)]
    assert resolve_recipe(cfg.candidates[1]).student_config(StudentConfig()).synthetic_ratio == 3
    with pytest.raises(ValidationError, match="unknown recipe 'nosiy'"):
        RunConfig(out="o", train="t", images="i", candidates=["nosiy"])
    with pytest.raises(ValidationError, match="named twice"):
        RunConfig(out="o", train="t", images="i", candidates=["plain"], references=["plain"])


def test_a_recipe_comes_after_its_judge_which_is_added_when_the_run_does_not_name_it():
    cfg = RunConfig(out="o", train="t", images="i", candidates=["regrounded"], references=["plain"])
    recipes = [(r.name, candidate) for r, candidate in cfg.recipes()]
    assert recipes == [("seltda", False), ("grounded", False), ("regrounded", True), ("plain", False)]
    chain = [
        {"name": "third", "agreed": True, "judge": "second"},
        {"name": "second", "agreed": True, "judge": "first"},
        {"name": "first", "agreed": True},
    ]
    cfg = RunConfig(out="o", train="t", images="i", candidates=chain)
    assert [r.name for r, _ in cfg.recipes()] == ["seltda", "first", "second", "third"]
    assert [c for _, c in cfg.recipes()] == [False, True, True, True]
    with pytest.raises(ValidationError, match="unknown judge: unknown recipe 'nobody'"):
        RunConfig(
            out="o", train="t", images="i", candidates=[{"name": "a", "agreed": True, "judge": "nobody"}]
        )
    loop = [{"name": "a", "agreed": True, "judge": "b"}, {"name": "b", "agreed": True, "judge": "a"}]
    with pytest.raises(ValidationError, match="cycle: a <- b <- a"):
        RunConfig(out="o", train="t", images="i", candidates=loop)
    with pytest.raises(ValidationError, match="no recipe may be named 'baseline'"):
        RunConfig(out="o", train="t", images="i", candidates=[{"name": "baseline"}])
