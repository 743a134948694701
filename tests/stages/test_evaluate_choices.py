"""`evaluate` under metric aokvqa-mc: the model picks the most likely of each record's choices, and the
accuracy is A-OKVQA's official multiple-choice rule (transcribed here from allenai/aokvqa's
evaluation/eval_predictions.py, `eval_aokvqa(dataset, preds, multiple_choice=True, strict=False)`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import aokvqa_layout, write_json
from PIL import Image
from typer.testing import CliRunner

from seltda.core.fileio import SeltdaInputError
from seltda.formats import convert
from seltda.models.blip import BlipAdapter, load_vqa_model
from seltda.stages.evaluate import EvaluateConfig, evaluate


def official_multiple_choice(items: list[dict], predictions: dict[str, str]) -> float:
    """The official rule: every question (difficult_direct_answer ones included, they are only left out of
    the direct-answer setting), 1 when the prediction is choices[correct_choice_idx], a missing one 0."""
    accuracy = []
    for item in items:
        if item["question_id"] not in predictions:
            accuracy.append(0.0)
            continue
        correct = item["choices"][item["correct_choice_idx"]]
        accuracy.append(float(predictions[item["question_id"]] == correct))
    return sum(accuracy) / len(accuracy) * 100


def picked_alone(model_dir: Path, root: Path, items: list[dict]) -> dict[str, int]:
    """Each question's most likely choice (its index), scored one question at a time."""
    adapter = BlipAdapter.from_pretrained(str(model_dir))
    model = load_vqa_model(str(model_dir)).eval()
    picks = {}
    for item in items:
        image = Image.open(root / f"val2017/{item['image_id']:012d}.jpg").convert("RGB")
        pixels = adapter.prepare_images([image])
        [scores] = adapter.choice_scores(model, pixels, [item["question"]], [item["choices"]])
        picks[item["question_id"]] = max(range(len(scores)), key=scores.__getitem__)
    return picks


def test_evaluate_picks_the_most_likely_choice_and_scores_it_officially(tiny_model: Path, tmp_path: Path):
    items, data = aokvqa_layout(tmp_path, count=7)
    picks = picked_alone(tiny_model, tmp_path, items[:6])
    for index, item in enumerate(items[:6]):  # half the picks right, half wrong: a rule that can fail
        item["correct_choice_idx"] = (picks[item["question_id"]] + index % 2) % len(item["choices"])
    convert("aokvqa", data, path=write_json(tmp_path / "aokvqa_v1p0_val.json", items))
    (tmp_path / f"val2017/{items[6]['image_id']:012d}.jpg").write_bytes(b"")  # unreadable: no prediction

    cfg = EvaluateConfig(metric="aokvqa-mc", batch_size=4, suites=())
    result = evaluate(str(tiny_model), data, tmp_path, tmp_path / "eval.json", cfg)
    predictions = {row["question_id"]: row["answer"] for row in result["predictions"]}
    answered = {key: value for key, value in predictions.items() if key != items[6]["question_id"]}
    assert result["metric"] == "aokvqa-mc" and result["n"] == 7 and result["missing"] == 1
    assert all(answered[item["question_id"]] in item["choices"] for item in items[:6])
    assert answered == {i["question_id"]: i["choices"][picks[i["question_id"]]] for i in items[:6]}
    assert result["accuracy"] == round(official_multiple_choice(items, answered), 2) == round(300 / 7, 2)
    assert result["warnings"] == []  # every prediction is a choice
    assert json.loads((tmp_path / "eval.json").read_text())["accuracy"] == result["accuracy"]


def test_multiple_choice_needs_choices_before_any_model_runs(dataset: dict, tmp_path: Path):
    cfg = EvaluateConfig(metric="aokvqa-mc")
    with pytest.raises(SeltdaInputError, match="needs meta.choices"):
        evaluate(str(tmp_path / "no-model"), dataset["train"], dataset["root"], None, cfg)


def test_evaluate_command_and_run_config_take_the_metric(tiny_model: Path, tmp_path: Path):
    from seltda.cli import app
    from seltda.orchestrate.run_config import RunConfig

    _, data = aokvqa_layout(tmp_path, count=3)
    out = tmp_path / "eval.json"
    args = ["evaluate", "--model", str(tiny_model), "--data", str(data), "--images", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--metric", "aokvqa-mc"])
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    choices = {row["question_id"]: row["meta"]["choices"] for row in map(json.loads, data.open())}
    assert saved["metric"] == "aokvqa-mc"
    assert all(row["answer"] in choices[row["question_id"]] for row in saved["predictions"])
    run = RunConfig(out=tmp_path, train=data, images=tmp_path, test=data, evaluate={"metric": "aokvqa-mc"})
    assert run.evaluate.metric == "aokvqa-mc"  # what every arm's evaluation gets (orchestrate/arms.py)
