"""The agreed recipe: pseudo-labels kept where the run's baseline answers the generated question alike."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import synthetic_pair, tiny_run_config

from seltda.core.records import Record, read_records, write_records
from seltda.eval.question_types import TypeIndex
from seltda.orchestrate import agree
from seltda.orchestrate.agree import agreed
from seltda.orchestrate.arms import Arm, synthetic_records
from seltda.orchestrate.recipes import BUILTIN, Recipe
from seltda.run.layout import RunLayout
from seltda.stages.evaluate import EvaluateConfig, predict


def test_a_pair_is_kept_when_the_baseline_gives_its_answer_after_vqa_normalization():
    shape, red = "what shape?", "is it red?"
    labeled = [
        Record(question_id="r1", image="a.png", question=shape, answers=["circle"], question_type="shape"),
        Record(question_id="r2", image="a.png", question=red, answers=["yes"], question_type="yes/no"),
    ]
    pairs = [
        synthetic_pair("p1", "u.png", "what shape?", "circle"),
        synthetic_pair("p2", "u.png", "is it red?", "yes"),
        synthetic_pair("p3", "v.png", "is it blue?", "no"),
        synthetic_pair(
            "p4", "w.png", "what shape?", "square"
        ),  # its image was unreadable: no answer, dropped
    ]
    answers = {"p1": "Circle.", "p2": "no", "p3": "no"}
    kept, summary = agreed(pairs, answers, TypeIndex(labeled))
    assert [r.question_id for r in kept] == ["p1", "p3"]
    assert kept[0].provenance.roundtrip_answer == "Circle." and pairs[0].provenance.roundtrip_answer is None
    assert summary["pairs"] == 4 and summary["kept"] == 2
    assert summary["per_type"]["yes/no"] == {"kept": 1, "dropped": 1, "agreement": 50.0}
    assert summary["per_type"]["shape"] == {"kept": 1, "dropped": 1, "agreement": 50.0}


def test_builtin_agreed_recipe_uses_every_parsed_pair_and_all_agreed_ones():
    recipe = BUILTIN["agreed"]
    assert recipe.agreed and recipe.refilters and recipe.student["synthetic_ratio"] == 10.0
    assert recipe.pseudolabel == {"keep_top_fraction": None, "max_yes_no_share": None, "min_score": None}


def test_agreed_arm_keeps_the_pairs_its_baseline_answers_alike_and_reuses_the_answers(
    dataset, tiny_model, tmp_path, monkeypatch
):
    cfg = tiny_run_config(dataset, tiny_model, tmp_path / "run")
    layout = RunLayout(cfg.out)
    shutil.copytree(tiny_model, layout.baseline)  # the run's baseline (any VQA model answers)
    questions = [
        synthetic_pair(f"p{i}", r.image, r.question, "?") for i, r in enumerate(dataset["records"][:8])
    ]
    said, _ = predict(str(layout.baseline), questions, dataset["root"], EvaluateConfig())
    # half the pairs carry the baseline's own answer, the other half another one
    pairs = [
        q.model_copy(update={"answers": [said[q.question_id] if i % 2 == 0 else "zzz"]})
        for i, q in enumerate(questions)
    ]
    write_records(layout.pseudolabels / "pseudolabels.jsonl", pairs)
    recipe = Recipe(name="agree-only", agreed=True)
    index = TypeIndex(dataset["records"])
    arm = Arm("agree-only", True, recipe, [layout.arm_model("agree-only")])
    path = synthetic_records(arm, cfg, layout, None, index, dataset["root"])
    assert path == layout.arm_pseudolabels("agree-only") / "pseudolabels.jsonl"
    assert [r.question_id for r in read_records(path)] == ["p0", "p2", "p4", "p6"]
    summary = json.loads((path.parent / "agree.json").read_text())
    assert summary["pairs"] == 8 and summary["kept"] == 4
    # a rerun reads the written file; with it gone, the saved answers (no model call)
    path.unlink()

    def refuse(*args, **kwargs):
        raise AssertionError("the baseline answered again")

    monkeypatch.setattr("seltda.stages.evaluate.predict", refuse)
    again = synthetic_records(arm, cfg, layout, None, index, dataset["root"])
    assert [r.question_id for r in read_records(again)] == ["p0", "p2", "p4", "p6"]
    # other questions are answered anew
    with pytest.raises(AssertionError, match="answered again"):
        saved = path.parent / "baseline_answers.json"
        agree.baseline_answers(layout.baseline, pairs[:3], dataset["root"], EvaluateConfig(), saved)
