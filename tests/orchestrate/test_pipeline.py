"""The chained run: iterative SelTDA rounds."""

from __future__ import annotations

import json

from seltda.orchestrate.pipeline import RunConfig, run
from seltda.report import write_report
from seltda.run.stage import read_stage


def test_two_rounds_keep_each_round_in_its_own_folder(dataset, tiny_model, tmp_path):
    out = tmp_path / "run"
    cfg = RunConfig(
        out=out,
        train=dataset["train"],
        images=dataset["root"],
        unlabeled_images=dataset["root"] / "images",
        test=dataset["train"],
        model=str(tiny_model),
        teacher={"max_steps": 2, "batch_size": 4, "save_steps": 1},
        student={"max_steps": 2, "batch_size": 4, "save_steps": 1},
        pseudolabel={"per_image": 2},
        rounds=2,
        teacher_on_pseudolabels=True,
    )
    metrics = run(cfg, score_pseudolabels=lambda synthetic: {"accuracy": 50.0, "generated": len(synthetic)})
    second = out / "round2"
    for part in ("teacher", "student"):
        assert (second / part / "model.safetensors").exists()
    assert (second / "pseudolabels" / "manifest.json").exists() and (
        second / "eval" / "student.json"
    ).exists()
    # round 2's teacher starts from round 1's student and also reads round 1's pseudo-labels
    stage = read_stage(second / "teacher")
    assert stage["config"]["model"] == str(out / "student")
    assert stage["synthetic_file"] == str(out / "pseudolabels" / "pseudolabels.jsonl")
    # the round-2 student starts from the base VLM, like round 1's
    assert read_stage(second / "student")["config"]["model"] == str(tiny_model)
    rounds = metrics["rounds"]
    assert [r["round"] for r in rounds] == [1, 2]
    assert rounds[0]["accuracy"] == metrics["seltda"]["accuracy"]
    round2 = json.loads((second / "eval" / "student.json").read_text())
    assert rounds[1]["accuracy"] == round2["accuracy"] and rounds[1]["pseudolabel_accuracy"] == 50.0
    html = write_report(out)["html"].read_text()
    assert 'id="rounds-table"' in html
    # rerunning finds every round complete
    assert run(cfg)["rounds"][1]["accuracy"] == rounds[1]["accuracy"]
