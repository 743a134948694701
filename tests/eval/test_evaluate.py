import json

from seltda.stages.evaluate import EvaluateConfig, evaluate


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


def test_score_any_models_predictions(dataset, tmp_path):
    from seltda.stages.evaluate import score

    predictions = [{"question_id": r.question_id, "answer": r.answers[0]} for r in dataset["records"][:10]]
    predictions.append({"question_id": "not-in-data", "answer": "x"})
    (tmp_path / "results.json").write_text(json.dumps(predictions))
    result = score(tmp_path / "results.json", dataset["train"], tmp_path / "scored.json")
    assert result["n"] == 24 and result["missing"] == 14 and result["unknown_question_ids"] == 1
    assert round(result["accuracy"], 2) == round(100 * (6 * 1.0 + 4 * 1.0) / 24, 2)


def test_evaluate_records_the_metric(dataset, tiny_model):
    cfg = EvaluateConfig(limit=4, metric="exact")
    result = evaluate(str(tiny_model), dataset["train"], dataset["root"], None, cfg)
    assert result["metric"] == "exact" and result["accuracy"] == result["exact_match"]
    assert EvaluateConfig().metric == "auto"
    assert all(field.description for field in EvaluateConfig.model_fields.values())


def test_score_command_metric_option(dataset, tmp_path):
    from typer.testing import CliRunner

    from seltda.cli import app

    records = dataset["records"]
    predictions = [{"question_id": r.question_id, "answer": r.answers[0]} for r in records]
    (tmp_path / "results.json").write_text(json.dumps(predictions))
    args = ["score", str(tmp_path / "results.json"), "--data", str(dataset["train"])]
    runner = CliRunner()
    result = runner.invoke(app, [*args, "--metric", "exact", "--out", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "s.json").read_text())["metric"] == "exact"
    result = runner.invoke(app, [*args, "--metric", "bleu"])
    assert result.exit_code == 2 and "unknown metric 'bleu'" in result.output
