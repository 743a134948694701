"""Data-efficiency curve: points on a user's config, resume without retraining, table, plot and report."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from seltda.cli import app
from seltda.core.records import read_records
from seltda.orchestrate.curve import curve, point_folder, run_config_runner, run_point_config
from seltda.orchestrate.pipeline import RunConfig


def tiny_run_config(dataset, tiny_model, out) -> RunConfig:
    return RunConfig(
        out=out,
        train=dataset["train"],
        images=dataset["root"],
        test=dataset["train"],
        model=str(tiny_model),
        teacher={"max_steps": 2, "batch_size": 4, "save_steps": 1},
        student={"max_steps": 2, "batch_size": 4, "save_steps": 1},
        pseudolabel={"per_image": 2},
    )


def test_point_config_splits_by_image_and_pools_the_rest(dataset, tiny_model, tmp_path):
    base = tiny_run_config(dataset, tiny_model, tmp_path / "curve")
    cfg = run_point_config(base, 0.25, seed=1, out=tmp_path / "p")
    labeled = {r.image for r in read_records(cfg.train)}
    pool = set(cfg.unlabeled_list.read_text().split())
    assert len(labeled) == 3 and len(pool) == 9 and labeled.isdisjoint(pool)
    assert cfg.seed == 1 and cfg.unlabeled_images == base.images
    # all labels: the teacher relabels the labeled images themselves
    full = run_point_config(base, 1.0, seed=0, out=tmp_path / "full")
    assert len(full.unlabeled_list.read_text().split()) == 12
    # a pool named by the user is kept as it is
    own = base.model_copy(update={"unlabeled_images": dataset["root"] / "images"})
    kept = run_point_config(own, 0.5, seed=0, out=tmp_path / "own")
    assert kept.unlabeled_images == dataset["root"] / "images" and kept.unlabeled_list is None


def test_curve_resumes_without_retraining_finished_points(dataset, tiny_model, tmp_path):
    out = tmp_path / "curve"
    real = run_config_runner(tiny_run_config(dataset, tiny_model, out))
    calls = []

    def interrupted(fraction, seed, folder):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user stops the curve after two points
        calls.append((fraction, seed))
        return real(fraction, seed, folder)

    with pytest.raises(KeyboardInterrupt):
        curve(out, [0.5, 1.0], [0, 1], interrupted)
    weights = ("baseline", "teacher", "student")
    finished = {
        p: [(point_folder(out, *p) / w / "model.safetensors").stat().st_mtime_ns for w in weights]
        for p in calls
    }
    before = {p: json.loads((point_folder(out, *p) / "metrics.json").read_text())["arms"] for p in calls}

    calls.clear()

    def counting(fraction, seed, folder):
        calls.append((fraction, seed))
        return real(fraction, seed, folder)

    summary = curve(out, [0.5, 1.0], [0, 1], counting)
    # every point resumes through its run (settings checked): the finished ones retrain nothing
    assert calls == [(0.5, 0), (0.5, 1), (1.0, 0), (1.0, 1)]
    for point, mtimes in finished.items():
        assert [
            (point_folder(out, *point) / w / "model.safetensors").stat().st_mtime_ns for w in weights
        ] == mtimes
        assert json.loads((point_folder(out, *point) / "metrics.json").read_text())["arms"] == before[point]
    rows = summary["rows"]
    assert [r["fraction"] for r in rows] == [0.5, 1.0]
    for row in rows:
        assert row["seeds"] == [0, 1] and len(row["baseline_per_seed"]) == 2
        assert row["gain"] == pytest.approx(row["seltda"] - row["baseline"])
        assert {"diff", "ci_low", "ci_high"} <= set(row["pooled_gain"])
    assert rows[0]["labeled_questions"] == 12 and rows[1]["labeled_questions"] == 24
    assert (out / "curve.png").read_bytes().startswith(b"\x89PNG")
    assert "| 0.5 | 12 | 2 |" in (out / "curve.md").read_text()
    assert json.loads((out / "curve.json").read_text()) == json.loads(json.dumps(summary))


def test_curve_command_on_a_run_config(dataset, tiny_model, tmp_path):
    cfg = tiny_run_config(dataset, tiny_model, tmp_path / "curve")
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    result = CliRunner().invoke(
        app, ["curve", str(tmp_path / "run.yaml"), "--fractions", "0.5", "--seeds", "1"]
    )
    assert result.exit_code == 0, result.output
    html = (tmp_path / "curve" / "report.html").read_text()
    assert 'id="curve-table"' in html and "accuracy vs labeled fraction" in html
    row = json.loads((tmp_path / "curve" / "curve.json").read_text())["rows"][0]
    point = json.loads((tmp_path / "curve" / "fraction-0.5" / "seed-0" / "metrics.json").read_text())
    assert set(row["arms"]) == {"baseline", "seltda", "shipped", "baseline_refit", "shipped_refit"}
    assert row["arms"]["seltda"] == {
        "mean": point["arms"]["seltda"]["test"],
        "per_seed": [point["arms"]["seltda"]["test"]],
    }
    assert row["arms"]["shipped"]["per_seed"] == [point["shipped"]["selected_accuracy"]]  # chosen on dev
    assert row["arms"]["shipped_refit"]["per_seed"] == [point["shipped"]["accuracy"]]  # then refit
    assert row["arms"]["baseline_refit"]["per_seed"] == [point["refit"]["baseline_accuracy"]]
    over = {"seltda": "baseline", "shipped": "baseline", "shipped_refit": "baseline_refit"}
    for name, reference in over.items():
        gain = row["gains"][name]
        assert gain["over"] == reference
        assert gain["per_seed"] == [row["arms"][name]["per_seed"][0] - row["arms"][reference]["per_seed"][0]]
        assert gain["ci"][0] <= gain["mean"] <= gain["ci"][1] and gain["covers"].startswith(
            "test questions only"
        )
    dev_gain = point["arms"]["seltda"]["gain_dev"]  # what the verdict could see on this point's dev split
    if dev_gain["ci_high"] > dev_gain["ci_low"]:  # the tiny models may answer every dev question alike
        assert row["dev_detectable"] == pytest.approx(dev_gain.get("detectable"), abs=0.01) > 0
    else:
        assert row["dev_detectable"] is None is dev_gain.get("detectable")
    bad = CliRunner().invoke(app, ["curve", str(tmp_path / "run.yaml"), "--fractions", "0,x"])
    assert bad.exit_code != 0


def test_curve_command_refuses_changed_settings_then_retrains_with_force(dataset, tiny_model, tmp_path):
    """A finished curve rerun with other settings is refused with a message naming --force, which the
    curve command accepts and passes to every point's run."""
    cfg = tiny_run_config(dataset, tiny_model, tmp_path / "curve")
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    args = ["curve", str(config), "--fractions", "0.5", "--seeds", "1"]
    assert CliRunner().invoke(app, args).exit_code == 0
    changed = cfg.model_copy(update={"student": cfg.student.model_copy(update={"max_steps": 3})})
    config.write_text(yaml.safe_dump(changed.model_dump(mode="json")))
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code != 0 and "--force" in refused.output
    assert "student.max_steps: 2 -> 3" in " ".join(refused.output.split())
    forced = CliRunner().invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    stage = json.loads(
        (tmp_path / "curve" / "fraction-0.5" / "seed-0" / "student" / "seltda_stage.json").read_text()
    )
    assert stage["config"]["max_steps"] == 3
