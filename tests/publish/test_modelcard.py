from huggingface_hub import ModelCard

from seltda.publish.modelcard import write_model_card

METRICS = {
    "baseline": {"accuracy": 70.5},
    "seltda": {"accuracy": 73.25},
    "gain": {"diff": 2.75, "ci_low": 1.5, "ci_high": 4.0, "n_common": 1000},
    "pseudolabels": {"funnel": {"generated": 30, "kept": 20}, "accuracy_vs_truth": {"accuracy": 71.0}},
}


def test_model_card_parses_and_holds_the_evidence(tmp_path):
    path = write_model_card(
        tmp_path,
        "student",
        "Salesforce/blip-vqa-base",
        "data/train.jsonl",
        {"lr": 1e-3},
        METRICS,
        test_data="data/test.jsonl",
    )
    card = ModelCard.load(path)
    assert card.data.library_name == "transformers" and "seltda" in card.data.tags
    assert card.data.base_model == "Salesforce/blip-vqa-base"
    assert card.data.eval_results[0].metric_value == 73.25
    assert "73.25" in card.text and "[+1.50, +4.00]" in card.text and "generated 30 -> kept 20" in card.text


def test_teacher_card_from_a_local_base(tmp_path):
    card = ModelCard.load(write_model_card(tmp_path, "teacher", str(tmp_path), "train.jsonl", {}, {}))
    assert card.data.base_model is None and card.data.to_dict()["seltda"]["base_model"] == str(tmp_path)
    assert "No evaluation was run." in card.text
