"""Model cards file the test accuracy under the test records, in the run's metric, with a Hub base_model."""

from __future__ import annotations

from pathlib import Path

import yaml
from huggingface_hub import ModelCard

from seltda.publish.modelcard import hub_id, write_model_card

METRICS = {
    "baseline": {"accuracy": 61.0, "metric": "exact", "exact_match": 61.0},
    "seltda": {"accuracy": 64.5, "metric": "exact", "exact_match": 64.5},
    "gain": {"diff": 3.5, "ci_low": 0.5, "ci_high": 6.0, "n_common": 900},
}


def _front_matter(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8").split("---")[1])


def test_eval_result_is_the_test_set_in_the_runs_metric(tmp_path: Path) -> None:
    path = write_model_card(
        tmp_path, "baseline", "Salesforce/blip-vqa-base", "runs/digits/train.jsonl", {}, METRICS,
        test_data="runs/digits/test.jsonl",
    )  # fmt: skip
    card = ModelCard.load(path)
    (result,) = card.data.eval_results
    assert (result.dataset_type, result.dataset_name) == ("runs/digits/test.jsonl", "test.jsonl")
    assert (result.metric_type, result.metric_name, result.metric_value) == (
        "exact",
        "exact-match accuracy",
        61.0,
    )
    meta = _front_matter(path)
    assert meta["base_model"] == "Salesforce/blip-vqa-base"
    index = meta["model-index"][0]["results"][0]
    assert index["dataset"]["name"] == "test.jsonl" and "train" not in str(index["dataset"])
    assert (
        "| model | exact-match accuracy |" in card.text
        and "evaluated on `runs/digits/test.jsonl`" in card.text
    )
    assert "VQA baseline" in card.text and "baseline" in card.data.tags  # the card still says which arm


def test_vqa_runs_also_report_exact_match(tmp_path: Path) -> None:
    metrics = {"seltda": {"accuracy": 70.0, "exact_match": 66.0}}  # a summary without `metric`: vqa
    card = ModelCard.load(
        write_model_card(tmp_path, "student", "org/model", "train.jsonl", {}, metrics, test_data="test.jsonl")
    )
    assert [(r.metric_type, r.metric_value) for r in card.data.eval_results] == [
        ("vqa", 70.0),
        ("exact_match", 66.0),
    ]
    assert "SelTDA student" in card.text and "student" in card.data.tags


def test_without_a_test_set_nothing_is_filed_under_the_training_data(tmp_path: Path) -> None:
    path = write_model_card(tmp_path, "student", "org/model", "train.jsonl", {}, METRICS)
    assert not ModelCard.load(path).data.eval_results
    assert "model-index" not in _front_matter(path)


def test_base_model_is_a_hub_id_or_omitted(tmp_path: Path) -> None:
    local = tmp_path / "base"
    local.mkdir()
    assert hub_id("Salesforce/blip-vqa-base") == "Salesforce/blip-vqa-base"
    assert hub_id(str(local)) is None and hub_id("base") is None and hub_id("runs/x/base") is None
    assert hub_id("./models/blip") is None and hub_id("a/b/c") is None
    card = ModelCard.load(write_model_card(tmp_path, "teacher", str(local), "train.jsonl", {}, {}))
    assert card.data.base_model is None and "base_model" not in _front_matter(tmp_path / "README.md")


def test_a_run_folder_card_finds_its_test_set_in_the_evaluation(tmp_path: Path) -> None:
    from seltda.run.artifacts import Evaluation
    from seltda.run.layout import RunLayout

    layout = RunLayout(tmp_path / "run")
    layout.student.mkdir(parents=True)
    Evaluation(
        model=str(layout.student), data="data/test.jsonl", accuracy=64.5, metric="exact", exact_match=64.5,
        n=900, missing=0,
    ).write(layout.student_eval)  # fmt: skip
    card = ModelCard.load(
        write_model_card(layout.student, "student", "org/model", "train.jsonl", {}, METRICS)
    )
    (result,) = card.data.eval_results
    assert (result.dataset_type, result.metric_value) == ("data/test.jsonl", 64.5)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert not ModelCard.load(write_model_card(outside, "student", "o/m", "t", {}, METRICS)).data.eval_results
