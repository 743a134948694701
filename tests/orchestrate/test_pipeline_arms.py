"""A run's arms: a dev split held out of the labeled images, replicates, recipes, and the verdict."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import tiny_run_config

from seltda.core.records import read_records, write_records
from seltda.orchestrate.pipeline import run
from seltda.report import write_report
from seltda.run.stage import read_stage


def test_replicates_and_recipes_are_trained_on_the_train_part_and_chosen_on_dev(
    dataset, tiny_model, tmp_path
):
    out = tmp_path / "run"
    cfg = tiny_run_config(dataset, tiny_model, out, replicates=2, references=["plain"], test=dataset["train"])
    metrics = run(cfg)
    train, dev = (
        read_records(out / "selection" / "train.jsonl"),
        read_records(out / "selection" / "dev.jsonl"),
    )
    assert len({r.image for r in dev}) == 2 and len({r.image for r in train}) == 10  # 20% of 12 images
    assert not {r.image for r in train} & {r.image for r in dev}
    # every model trains on the train part only; replicate k trains with seed + k - 1
    for folder in ("baseline", "baseline-r2", "student", "student-r2", "teacher", "arms/plain/student-r2"):
        assert read_stage(out / folder)["train_files"] == [str(out / "selection" / "train.jsonl")]
    assert read_stage(out / "student-r2")["config"]["seed"] == cfg.seed + 1
    assert read_stage(out / "arms" / "plain" / "student")["config"]["synthetic_ratio"] == 1.0
    assert (out / "arms" / "plain" / "pseudolabels" / "manifest.json").is_file()  # re-merged, not resampled
    arms = metrics["arms"]
    # the untrained teacher's samples do not parse: the agreed recipe keeps nothing and is not trained
    assert list(arms) == ["baseline", "seltda", "plain"]
    assert not (out / "arms" / "agreed" / "student").exists()
    assert any("agreed was not trained: no pseudo-label kept" in w for w in metrics["warnings"])
    assert arms["plain"]["candidate"] is False and arms["seltda"]["candidate"] is True
    for name in ("seltda", "plain"):
        assert len(arms[name]["dev_per_replicate"]) == 2 and len(arms[name]["test_per_replicate"]) == 2
        assert arms[name]["gain_dev"]["replicates"] == 2 and arms[name]["gain_dev"]["n"] == len(dev)
        assert arms[name]["gain_test"]["covers"] == "training seeds and test questions"
    margins = json.loads((out / "eval" / "dev" / "teacher.json").read_text())["margins"]
    assert metrics["teacher_types"] == margins and set(margins) <= {"shape", "color"}
    shipped = metrics["shipped"]
    assert shipped["arm"] in ("baseline", "seltda") and metrics["verdict"].startswith("shipping")
    # chosen on dev, then refit from the base model on train + dev, as the baseline is (its reference)
    assert shipped["selected_model"] in arms[shipped["arm"]]["models"] and shipped["refit"] is True
    refit = metrics["refit"]
    assert shipped["model"] == refit["model"] == str(out / "refit" / shipped["arm"])
    assert refit["baseline_model"] == str(out / "refit" / "baseline") and refit["records"] == len(
        train
    ) + len(dev)
    assert read_records(out / "refit" / "train.jsonl") == train + dev
    for folder in {refit["model"], refit["baseline_model"]}:
        stage = read_stage(Path(folder))
        assert stage["train_files"] == [str(out / "refit" / "train.jsonl")]
        assert stage["config"]["seed"] == cfg.seed + shipped["replicate"] - 1
    synthetic = read_stage(Path(refit["model"]))["synthetic_file"]
    assert (synthetic is None) == (shipped["arm"] == "baseline")
    assert shipped["accuracy"] == refit["accuracy"] and (out / "refit" / "eval" / "baseline.json").is_file()
    assert metrics["verdict"].endswith(f"then refit on train + dev ({len(train) + len(dev)} records)")
    card = out.parent / shipped["model"] if not shipped["model"].startswith("/") else Path(shipped["model"])
    assert "This is the model seltda shipped" in (card / "README.md").read_text()
    others = [
        m
        for a in arms.values()
        for m in a["models"]
        if m != shipped["model"] and (Path(m) / "README.md").exists()
    ]
    assert others and all("not the one seltda shipped" in (Path(m) / "README.md").read_text() for m in others)
    html = write_report(out)["html"].read_text()
    assert 'id="arms-table"' in html and metrics["verdict"].split(":")[0] in html
    assert 'id="teacher-types-table"' in html


def test_user_dev_records_choose_and_every_model_trains_on_all_of_train(
    dataset, tiny_model, tmp_path, monkeypatch
):
    from seltda.orchestrate import selection

    orders, choose = [], selection.choose
    monkeypatch.setattr(selection, "choose", lambda *args: orders.append(args[3]) or choose(*args))
    out = tmp_path / "run"
    dev_file = tmp_path / "dev.jsonl"
    write_records(dev_file, dataset["records"][:6])
    cfg = tiny_run_config(dataset, tiny_model, out, dev=dev_file, candidates=["seltda"], refit=False)
    metrics = run(cfg)
    assert not (out / "selection").exists() and not (out / "refit").exists() and "refit" not in metrics
    assert metrics["shipped"]["model"] == metrics["shipped"]["selected_model"]
    assert not metrics["shipped"].get("refit")
    assert read_stage(out / "baseline")["train_files"] == [str(dataset["train"])]
    assert metrics["arms"]["seltda"]["gain_dev"]["n"] == 6 and list(metrics["arms"]) == ["baseline", "seltda"]
    assert orders == [["seltda"]]  # the verdict ranks by the run's order of preference


def test_without_dev_nothing_is_shipped_and_the_run_says_so(dataset, tiny_model, tmp_path):
    cfg = tiny_run_config(
        dataset, tiny_model, tmp_path / "run", dev_fraction=0, candidates=["seltda", "aimed", "agreed"]
    )
    metrics = run(cfg)
    assert metrics["shipped"] is None or "shipped" not in metrics
    assert "nothing was chosen" in metrics["verdict"]
    assert any("dev_fraction: 0" in w for w in metrics["warnings"])
    assert any("aimed was not trained: no dev records" in w for w in metrics["warnings"])
    assert any("agreed was not trained: no pseudo-label kept" in w for w in metrics["warnings"])
    assert list(metrics["arms"]) == ["baseline", "seltda"]


def test_the_likelihood_rule_scores_every_model_on_dev_and_a_rule_change_retrains_nothing(
    dataset, tiny_model, tmp_path
):
    out = tmp_path / "run"
    dev_file = tmp_path / "dev.jsonl"
    write_records(dev_file, dataset["records"][:6])
    changes = dict(dev=dev_file, candidates=["seltda"], refit=False)
    cfg = tiny_run_config(dataset, tiny_model, out, verdict="accuracy-or-likelihood", **changes)
    metrics = run(cfg)
    for name in ("baseline", "seltda"):
        scored = json.loads((out / "eval" / "dev" / "likelihood" / f"{name}.json").read_text())
        assert scored["n"] == 6 and scored["model"] == metrics["arms"][name]["models"][0]
    gain = metrics["arms"]["seltda"]["gain_dev_likelihood"]
    assert gain["n"] == 6 and gain["ci_low"] <= gain["diff"] <= gain["ci_high"]
    assert "likelihood" in metrics["verdict"]  # shipped on it, or the baseline with the best one's figure
    assert "dev_likelihoods" in metrics["timings_seconds"]
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("model.safetensors")}
    again = run(tiny_run_config(dataset, tiny_model, out, verdict="accuracy", **changes))
    assert {p: p.stat().st_mtime_ns for p in out.rglob("model.safetensors")} == stamps
    assert "gain_dev_likelihood" not in again["arms"]["seltda"] and "likelihood" not in again["verdict"]
