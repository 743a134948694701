"""The chained run: iterative SelTDA rounds."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import tiny_run_config

from seltda.core import fileio
from seltda.orchestrate.pipeline import run
from seltda.report import write_report
from seltda.run.artifacts import Evaluation, Likelihoods
from seltda.run.stage import read_stage


def _spy_writes_and_evaluation_reads(monkeypatch) -> tuple[list[Path], list[Path]]:
    """Every atomic write, and every read of an evaluation or of dev answer likelihoods (`eval/`)."""
    writes: list[Path] = []
    reads: list[Path] = []
    write = fileio.atomic_write_bytes

    def spy_write(path, data):
        writes.append(Path(path))
        return write(path, data)

    def spy_on(artifact):
        read = artifact.read

        def spy_read(cls, path):
            reads.append(Path(path))
            return read(path)

        monkeypatch.setattr(artifact, "read", classmethod(spy_read))

    monkeypatch.setattr(fileio, "atomic_write_bytes", spy_write)
    spy_on(Evaluation)
    spy_on(Likelihoods)
    return writes, reads


def test_two_rounds_keep_each_round_in_its_own_folder(dataset, tiny_model, tmp_path, monkeypatch):
    writes, reads = _spy_writes_and_evaluation_reads(monkeypatch)
    out = tmp_path / "run"
    cfg = tiny_run_config(dataset, tiny_model, out, rounds=2, teacher_on_pseudolabels=True)
    metrics = run(cfg, score_pseudolabels=lambda synthetic: {"accuracy": 50.0, "generated": len(synthetic)})
    # metrics.json is written once, holds what run returned; nothing this run wrote was read back
    assert writes.count(out / "metrics.json") == 1 and reads == []
    assert json.loads((out / "metrics.json").read_text()) == metrics
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
    # rerunning finds every round complete: the finished evaluations are read back, metrics written once
    written = writes.count(out / "metrics.json")
    assert run(cfg)["rounds"][1]["accuracy"] == rounds[1]["accuracy"]
    assert writes.count(out / "metrics.json") == written + 1
    evaluations = {
        path
        for path in out.rglob("*.json")
        if "eval" in path.relative_to(out).parts and path.name not in ("compare.json", "teacher.json")
    }
    assert {out / "eval" / "baseline.json", out / "eval" / "dev" / "seltda.json"} <= evaluations
    assert out / "eval" / "dev" / "likelihood" / "seltda.json" in evaluations  # the default verdict's
    assert second / "eval" / "student.json" in evaluations
    assert sorted(reads) == sorted(evaluations)  # each finished evaluation read back once


def test_demo_hands_its_section_to_run_and_writes_nothing_itself(tmp_path, monkeypatch):
    import seltda.demo.run as demo_run
    from seltda.demo.config import DemoConfig

    writes, _ = _spy_writes_and_evaluation_reads(monkeypatch)
    cfg = DemoConfig(out=tmp_path / "demo", steps=7)
    run_cfg = object()
    monkeypatch.setattr(demo_run, "demo_run_config", lambda c: (run_cfg, []))
    calls = []

    def fake_run(config, score, demo=None, force=False):
        calls.append((config, demo))
        assert force is False
        return {"pseudolabels": {}, "demo": demo}

    monkeypatch.setattr(demo_run, "run", fake_run)
    metrics = demo_run.demo(cfg)
    assert calls == [(run_cfg, cfg.model_dump(mode="json"))] and metrics["demo"]["steps"] == 7
    assert writes == []


def test_the_demo_learning_rate_and_verdict_settings_reach_the_run(tmp_path):
    from seltda.demo.config import DemoConfig
    from seltda.demo.run import demo_run_config
    from seltda.stages.train_config import TrainingConfig

    data = tmp_path / "easyvqa"
    default, _ = demo_run_config(DemoConfig(out=tmp_path / "a", data_dir=data, pool_limit=8, test_limit=5))
    assert default.teacher.learning_rate == default.student.learning_rate == TrainingConfig().learning_rate
    lowered = DemoConfig(out=tmp_path / "b", data_dir=data, pool_limit=8, test_limit=5, learning_rate=3e-4)
    run_cfg, _ = demo_run_config(lowered)
    assert run_cfg.teacher.learning_rate == run_cfg.student.learning_rate == 3e-4
    # the verdict's settings reach the run too: the run's defaults unless the demo names them
    assert default.prefer == "listed" and default.preference == ["probed", "grounded", "agreed", "seltda"]
    chosen = lowered.model_copy(update={"prefer": "dev-gain", "candidates": ["agreed", "seltda"]})
    run_cfg, _ = demo_run_config(chosen)
    assert run_cfg.prefer == "dev-gain" and run_cfg.preference is None
    assert [str(c) for c in run_cfg.candidates] == ["agreed", "seltda"]


def test_threads_are_fixed_for_the_run_recorded_and_restored(dataset, tiny_model, tmp_path):
    """`threads` sets torch's thread count for the whole run (recorded in env.json), then restores the
    caller's; since the count changes what training computes, a rerun with another count is refused."""
    import pytest
    import torch

    from seltda.core.fileio import SeltdaInputError

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        cfg = tiny_run_config(
            dataset, tiny_model, tmp_path / "run", threads=1, dev_fraction=0, candidates=["seltda"]
        )
        run(cfg)
        assert json.loads((cfg.out / "env.json").read_text())["torch_threads"] == 1
        for model in ("baseline", "teacher", "student"):  # and with each model it trained
            assert (
                json.loads((cfg.out / model / "seltda_stage.json").read_text())["env"]["torch_threads"] == 1
            )
        assert torch.get_num_threads() == 2
        with pytest.raises(SeltdaInputError, match="threads: 1 -> 2"):
            run(cfg.model_copy(update={"threads": 2}))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
