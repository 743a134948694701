import json
import subprocess

import pytest
import yaml
from typer.testing import CliRunner

from seltda.cli import app
from seltda.core.records import read_records

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


@pytest.mark.parametrize(
    "command", ["demo", "run", "teacher", "pseudolabel", "student", "evaluate", "compare"]
)
def test_help(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0 and "Usage" in result.output


def test_malformed_records_are_a_clear_error(tmp_path, tiny_model):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"question_id": "1", "image": "a.png", "question": "q?", "answers": ["x"]}\n{"question_id": 2}\n'
    )
    result = invoke(
        "teacher", "--train", bad, "--images", tmp_path, "--out", tmp_path / "t", "--model", tiny_model
    )
    assert result.exit_code == 2
    assert "bad.jsonl:2" in result.output and "Traceback" not in result.output


def test_image_outside_root_is_refused(tmp_path, tiny_model):
    bad = tmp_path / "escape.jsonl"
    bad.write_text('{"question_id": "1", "image": "../secret.png", "question": "q?", "answers": ["x"]}\n')
    result = invoke(
        "student", "--train", bad, "--images", tmp_path, "--out", tmp_path / "s", "--model", tiny_model
    )
    assert result.exit_code == 2 and "escape.jsonl:1" in result.output


def test_missing_model_is_a_clear_error(dataset, tmp_path):
    result = invoke(
        "student",
        "--train",
        dataset["train"],
        "--images",
        dataset["root"],
        "--out",
        tmp_path / "s",
        "--model",
        tmp_path / "no-such-model",
    )
    assert result.exit_code == 2 and "cannot load" in result.output


def test_stage_commands_chain_on_own_data(dataset, tiny_model, tmp_path):
    root, train = dataset["root"], dataset["train"]
    common = ["--steps", 2, "--batch-size", 4]
    assert (
        invoke(
            "teacher",
            "--train",
            train,
            "--images",
            root,
            "--out",
            tmp_path / "teacher",
            "--model",
            tiny_model,
            *common,
        ).exit_code
        == 0
    )
    result = invoke(
        "pseudolabel",
        "--teacher",
        tmp_path / "teacher",
        "--images",
        root / "images",
        "--out",
        tmp_path / "pl",
        "--per-image",
        2,
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "pl" / "manifest.json").read_text())
    assert manifest["images"]["seen"] == 12 and manifest["funnel"]["generated"] == 24
    for name, extra in [
        ("baseline", []),
        (
            "student",
            ["--synthetic", tmp_path / "pl" / "pseudolabels.jsonl", "--synthetic-images", root / "images"],
        ),
    ]:
        result = invoke(
            "student",
            "--train",
            train,
            "--images",
            root,
            "--out",
            tmp_path / name,
            "--model",
            tiny_model,
            *common,
            *extra,
        )
        assert result.exit_code == 0, result.output
        result = invoke(
            "evaluate",
            "--model",
            tmp_path / name,
            "--data",
            train,
            "--images",
            root,
            "--out",
            tmp_path / f"{name}.json",
        )
        assert result.exit_code == 0 and "accuracy" in result.output
    result = invoke(
        "compare",
        tmp_path / "baseline.json",
        tmp_path / "student.json",
        "--out",
        tmp_path / "c.json",
        "--resamples",
        200,
    )
    assert result.exit_code == 0 and "95% CI" in result.output
    assert json.loads((tmp_path / "c.json").read_text())["n_common"] == 24
    single = json.loads((tmp_path / "c.json").read_text())
    assert single["covers"].startswith("test questions only")
    evals = [tmp_path / "baseline.json", tmp_path / "student.json"]
    result = invoke("compare", evals[0], evals[0], evals[1], evals[1], "--out", tmp_path / "c2.json")
    assert result.exit_code == 0 and "per replicate" in result.output, result.output
    paired = json.loads((tmp_path / "c2.json").read_text())
    assert paired["replicates"] == 2 and paired["covers"] == "training seeds and test questions"
    assert paired["diff"] == single["diff"] and paired["per_replicate"] == [round(single["diff"], 4)] * 2
    assert invoke("compare", *evals, evals[0]).exit_code != 0  # A's and B's must pair up


def test_run_config_on_own_data(dataset, tiny_model, tmp_path):
    config = {
        "out": str(tmp_path / "run"),
        "train": str(dataset["train"]),
        "images": str(dataset["root"]),
        "unlabeled_images": str(dataset["root"] / "images"),
        "test": str(dataset["train"]),
        "model": str(tiny_model),
        "teacher": {"max_steps": 2, "batch_size": 4},
        "student": {"max_steps": 2, "batch_size": 4},
        "pseudolabel": {"per_image": 2},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    result = invoke("run", tmp_path / "run.yaml")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"baseline", "seltda", "pseudolabels", "gain", "arms", "shipped", "verdict"} <= set(metrics)
    # the summary names what is shipped and why, and what the intervals cover
    output = " ".join(result.output.split())
    assert f"shipped: {metrics['shipped']['arm']}" in output and "verdict:" in output
    assert "intervals cover: test questions only" in output
    assert (tmp_path / "run" / "config.yaml").exists() and (tmp_path / "run" / "env.json").exists()
    from huggingface_hub import ModelCard

    card = ModelCard.load(tmp_path / "run" / "student" / "README.md")
    assert card.data.eval_results[0].metric_value == metrics["seltda"]["accuracy"]
    assert (tmp_path / "run" / "report.html").exists()


def test_run_config_errors_name_the_field(tmp_path):
    (tmp_path / "run.yaml").write_text("out: x\ntrain: t.jsonl\nimages: .\nteacher: {max_stepz: 3}\n")
    result = invoke("run", tmp_path / "run.yaml")
    assert result.exit_code == 2 and "teacher.max_stepz" in result.output


def test_demo_end_to_end_on_easy_vqa(tiny_demo):
    """The embedded default through the installed `seltda` entry point, at a tiny scale."""
    out, command = tiny_demo["out"], tiny_demo["command"]
    assert "SelTDA - baseline" in tiny_demo["stdout"] and "report.html" in tiny_demo["stdout"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"accuracy"} <= set(metrics["baseline"]) and {"accuracy"} <= set(metrics["seltda"])
    assert metrics["pseudolabels"]["images"]["seen"] == 16
    # both arms start from the pretrained tiny BLIP by default, not from random weights
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["model"].endswith("tiny-blip-pretrained")
    assert config["teacher"]["model"] == config["student"]["model"] == config["model"]
    assert config["dev_folds"] == 0  # `auto` recorded as what it resolved to: 2% holds out ~150 questions
    assert "rephrasing" in metrics["suites"] and metrics["suites"]["rephrasing"]["seltda"]["groups"] > 0
    for folder in ["teacher", "baseline", "student"]:
        assert (out / folder / "model.safetensors").exists()
    labeled = {r.image for r in read_records(out / "data" / "labeled.jsonl")}
    pool = set((out / "data" / "unlabeled.txt").read_text().split())
    assert labeled and pool and labeled.isdisjoint(pool) and len(labeled) == 80  # 2% of 4,000 images
    # a second run finds every stage complete and changes nothing
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    assert json.loads((out / "metrics.json").read_text())["seltda"] == metrics["seltda"]


def test_evaluate_suites_option(dataset, tiny_model, tmp_path):
    args = [
        "evaluate",
        "--model",
        tiny_model,
        "--data",
        dataset["train"],
        "--images",
        dataset["root"],
        "--out",
        tmp_path / "e.json",
        "--limit",
        4,
    ]
    result = invoke(*args, "--suite", "numeric", "--suite", "rephrasing")
    assert result.exit_code == 0, result.output
    assert invoke(*args, "--suite", "bogus").exit_code == 2


def test_refused_setting_is_a_clear_error(tmp_path, tiny_model):
    result = invoke(
        "pseudolabel", "--teacher", tiny_model, "--images", tmp_path, "--out", tmp_path / "pl",
        "--precision", "fp64",
    )  # fmt: skip
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "precision" in result.output and "'fp64'" in result.output
