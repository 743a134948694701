"""The grounded recipe: pseudo-labels kept where the baseline's likelihood of their answer depends on the
image."""

from __future__ import annotations

import json
import math
import shutil

import pytest
from conftest import run_with_pairs, synthetic_pair, tiny_run_config

from seltda.core.records import Record, read_records, write_records
from seltda.eval.question_types import TypeIndex
from seltda.orchestrate import arms as arms_module
from seltda.orchestrate import ground
from seltda.orchestrate.arms import Arm, synthetic_records
from seltda.orchestrate.ground import grounded, grounding
from seltda.orchestrate.recipes import BUILTIN, Recipe
from seltda.orchestrate.selection import _untrainable
from seltda.run.layout import RunLayout
from seltda.run.stage import STAGE_FILE
from seltda.stages.evaluate import EvaluateConfig, reference_likelihoods


def test_pairs_above_the_threshold_are_kept_and_a_pair_without_grounding_is_dropped():
    labeled = [
        Record(
            question_id="r1", image="a.png", question="what shape?", answers=["circle"], question_type="shape"
        ),
        Record(
            question_id="r2", image="a.png", question="is it red?", answers=["yes"], question_type="yes/no"
        ),
    ]
    pairs = [
        synthetic_pair("p1", "u.png", "what shape?", "circle"),
        synthetic_pair("p2", "u.png", "is it red?", "no"),
        synthetic_pair("p3", "v.png", "is it blue?", "yes"),
        synthetic_pair("p4", "w.png", "is it green?", "no"),  # its image was unreadable: no grounding
    ]
    scores = {"p1": 1.2, "p2": 0.05, "p3": 0.3}
    kept, summary = grounded(pairs, scores, 0.25, TypeIndex(labeled))
    assert [r.question_id for r in kept] == ["p1", "p3"]
    assert summary["pairs"] == 4 and summary["kept"] == 2 and summary["threshold"] == 0.25
    assert summary["per_type"] == {
        "shape": {"kept": 1, "dropped": 0, "kept_share": 100.0},
        "yes/no": {"kept": 1, "dropped": 2, "kept_share": 33.33},
    }


def test_grounding_is_the_answers_likelihood_on_its_image_over_that_on_the_others(
    dataset, tiny_model, tmp_path
):
    records = dataset["records"]
    first, second = sorted({r.image for r in records})[:2]
    pairs = [synthetic_pair(f"p{i}", r.image, r.question, r.answers[0]) for i, r in enumerate(records[:8])]
    pairs = [p for p in pairs if p.image in (first, second)]
    assert {p.image for p in pairs} == {first, second}
    cfg = EvaluateConfig(batch_size=4)
    scores = grounding(tiny_model, pairs, dataset["root"], cfg, tmp_path / "grounding.json", others=3)
    # two images: every draw of "another image" is the other one, so the grounding is one difference
    swapped = [p.model_copy(update={"image": second if p.image == first else first}) for p in pairs]
    [(own, _), (elsewhere, _)] = reference_likelihoods(
        str(tiny_model), [pairs, swapped], dataset["root"], cfg
    )
    for pair in pairs:
        assert scores[pair.question_id] == pytest.approx(
            own[pair.question_id] - elsewhere[pair.question_id], abs=1e-4
        )
    # one image only: its answers cannot depend on the image
    alone = [p.model_copy(update={"image": first}) for p in pairs]
    flat = grounding(tiny_model, alone, dataset["root"], cfg, tmp_path / "alone.json", others=2)
    assert set(flat) == {p.question_id for p in alone} and all(abs(v) < 1e-4 for v in flat.values())


def test_grounding_is_read_back_for_the_same_pairs_and_computed_again_for_others(
    dataset, tiny_model, tmp_path, monkeypatch
):
    pairs = [
        synthetic_pair(f"p{i}", r.image, r.question, r.answers[0])
        for i, r in enumerate(dataset["records"][:6])
    ]
    (dataset["root"] / "images" / "broken.png").write_bytes(b"not a png")
    pairs.append(synthetic_pair("broken", "images/broken.png", "what shape?", "circle"))
    out = tmp_path / "grounding.json"
    scores = grounding(tiny_model, pairs, dataset["root"], EvaluateConfig(), out)
    assert "broken" not in scores and len(scores) == 6 and all(math.isfinite(v) for v in scores.values())
    assert json.loads(out.read_text())["skipped_images"]["records_with_unreadable_image"] == 1

    def refuse(*args, **kwargs):
        raise AssertionError("scored again")

    monkeypatch.setattr("seltda.stages.evaluate.reference_likelihoods", refuse)
    assert grounding(tiny_model, pairs, dataset["root"], EvaluateConfig(), out) == scores
    with pytest.raises(AssertionError, match="scored again"):  # another answer is another pair
        changed = [pairs[0].model_copy(update={"answers": ["zzz"]}), *pairs[1:]]
        ground.grounding(tiny_model, changed, dataset["root"], EvaluateConfig(), out)


def test_builtin_grounded_recipe_grounds_the_agreed_pairs():
    recipe = BUILTIN["grounded"]
    assert recipe.agreed and recipe.grounded == 0.25 and recipe.selects
    assert recipe.student["synthetic_ratio"] == 10.0 and recipe.pseudolabel == BUILTIN["agreed"].pseudolabel
    assert not BUILTIN["seltda"].selects


def test_grounded_arm_keeps_the_pairs_above_its_threshold(dataset, tiny_model, tmp_path):
    cfg = tiny_run_config(dataset, tiny_model, tmp_path / "run")
    layout = RunLayout(cfg.out)
    shutil.copytree(tiny_model, layout.baseline)  # the run's baseline (any VQA model answers)
    pairs = [
        synthetic_pair(f"p{i}", r.image, r.question, r.answers[0])
        for i, r in enumerate(dataset["records"][:8])
    ]
    write_records(layout.pseudolabels / "pseudolabels.jsonl", pairs)
    index = TypeIndex(dataset["records"])
    everything = Recipe(name="ground-all", grounded=-1e9)
    arm = Arm("ground-all", True, everything, [layout.arm_model("ground-all")])
    path = synthetic_records(arm, cfg, layout, None, index, dataset["root"])
    assert [r.question_id for r in read_records(path)] == [p.question_id for p in pairs]
    scores = json.loads((path.parent / "grounding.json").read_text())["grounding"]
    middle = sorted(scores.values())[len(scores) // 2]
    half = Recipe(name="ground-half", grounded=middle)
    arm = Arm("ground-half", True, half, [layout.arm_model("ground-half")])
    path = synthetic_records(arm, cfg, layout, None, index, dataset["root"])
    assert [r.question_id for r in read_records(path)] == [
        p.question_id for p in pairs if scores[p.question_id] > middle
    ]
    assert json.loads((path.parent / "ground.json").read_text())["kept"] == len(read_records(path))


def test_an_arm_judged_by_another_arms_student_waits_for_it_and_then_uses_it(dataset, tiny_model, tmp_path):
    cfg = tiny_run_config(dataset, tiny_model, tmp_path / "run")
    layout = RunLayout(cfg.out)
    shutil.copytree(tiny_model, layout.baseline)
    pairs = [
        synthetic_pair(f"p{i}", r.image, r.question, r.answers[0])
        for i, r in enumerate(dataset["records"][:4])
    ]
    write_records(layout.pseudolabels / "pseudolabels.jsonl", pairs)
    index = TypeIndex(dataset["records"])
    recipe = Recipe(name="again", grounded=-1e9, judge="first")
    arm = Arm("again", True, recipe, [layout.arm_model("again")])
    assert synthetic_records(arm, cfg, layout, None, index, dataset["root"]) is None  # no judge yet
    assert "judge, the first student, was not trained" in _untrainable(arm, layout)
    judge = layout.arm_model("first")
    shutil.copytree(tiny_model, judge)
    (judge / STAGE_FILE).write_text("{}")  # trained
    path = arm.synthetic = synthetic_records(arm, cfg, layout, None, index, dataset["root"])
    assert len(read_records(path)) == len(pairs)
    assert _untrainable(arm, layout) is None
    assert json.loads((path.parent / "grounding.json").read_text())["model"] == str(judge)


def test_a_recipe_that_differs_in_the_student_only_copies_the_pairs_already_judged(
    dataset, tiny_model, tmp_path, monkeypatch
):
    first = Recipe(name="ground", grounded=0.0)
    longer = Recipe(name="ground-long", grounded=0.0, student={"max_steps": 3})
    other = Recipe(name="ground-more", grounded=-1e9)
    cfg, layout, pairs = run_with_pairs(
        dataset, tiny_model, tmp_path / "run", candidates=[first, longer, other]
    )
    index = TypeIndex(dataset["records"])
    made = synthetic_records(Arm("ground", True, first, []), cfg, layout, None, index, dataset["root"])
    assert read_records(made) and longer.selection == first.selection != other.selection

    def judged_again(*args, **kwargs):
        raise AssertionError("judged again")

    (made.parent / "filtered").mkdir()
    write_records(made.parent / "filtered" / "pseudolabels.jsonl", pairs)  # a recipe's own merge, kept
    monkeypatch.setattr(arms_module, "grounding", judged_again)
    copied = synthetic_records(
        Arm("ground-long", True, longer, []), cfg, layout, None, index, dataset["root"]
    )
    assert copied == layout.arm_pseudolabels("ground-long") / "pseudolabels.jsonl"
    assert read_records(copied) == read_records(made)
    assert read_records(copied.parent / "filtered" / "pseudolabels.jsonl") == pairs
    for summary in ("ground.json", "grounding.json"):
        assert (copied.parent / summary).read_text() == (made.parent / summary).read_text()
    with pytest.raises(AssertionError, match="judged again"):  # another threshold: judged on its own
        synthetic_records(Arm("ground-more", True, other, []), cfg, layout, None, index, dataset["root"])
