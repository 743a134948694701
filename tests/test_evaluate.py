import json

from seltda.evaluate import EvaluateConfig, evaluate


def test_evaluate_writes_predictions_and_official_accuracy(dataset, tiny_model, tmp_path):
    out = tmp_path / "eval.json"
    result = evaluate(str(tiny_model), dataset["train"], dataset["root"], out, EvaluateConfig(batch_size=5))
    saved = json.loads(out.read_text())
    assert saved["n"] == 24 and len(saved["predictions"]) == 24
    assert 0 <= saved["accuracy"] <= 100 and set(saved["per_question_type"]) == {"shape", "color"}
    assert result["accuracy"] == saved["accuracy"]


def test_evaluate_counts_unreadable_images_as_missing(dataset, tiny_model, tmp_path):
    (dataset["root"] / "images" / "001.png").write_bytes(b"")
    result = evaluate(str(tiny_model), dataset["train"], dataset["root"], None, EvaluateConfig(limit=6))
    assert result["n"] == 6 and result["missing"] == 2 and result["skipped_images"]["empty"] == 1
