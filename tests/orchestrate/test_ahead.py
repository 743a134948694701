"""Stages trained in a second process (`workers: 2`): the same models, a failed worker's stage trained in
place, never two stages in one slot."""

from __future__ import annotations

import json
import operator
import time

import pytest
from conftest import tiny_run_config
from pydantic import BaseModel

from seltda.orchestrate.ahead import Ahead
from seltda.orchestrate.pipeline import run
from seltda.orchestrate.stage_clock import StageClock
from seltda.run.stage import stage_complete, write_stage


class _Settings(BaseModel):
    value: int = 1


def test_stages_beside_train_the_same_models_as_in_place(dataset, tiny_model, tmp_path):
    """The teacher trains beside the baseline and round 1's student beside the recipes' selection, in a
    second process with the run's thread count: every model is bit for bit the one-process run's."""
    common = {"threads": 1, "candidates": ["seltda", "agreed"], "seed": 3}
    one = run(tiny_run_config(dataset, tiny_model, tmp_path / "one", workers=1, **common))
    two = run(tiny_run_config(dataset, tiny_model, tmp_path / "two", workers=2, **common))
    logs = tmp_path / "two" / "logs"
    assert (logs / "teacher.log").is_file() and "teacher" in (logs / "teacher.log").read_text()
    assert not (tmp_path / "one" / "logs").exists()
    for model in ("baseline", "teacher", "student", "arms/agreed/student"):
        first, second = (tmp_path / name / model / "model.safetensors" for name in ("one", "two"))
        if first.exists() or second.exists():  # agreed may keep no pair on the tiny data
            assert first.read_bytes() == second.read_bytes(), model

    def scores(metrics: dict, name: str) -> str:  # every arm's dev and test figures, paths left out
        return json.dumps(metrics["arms"]).replace(str(tmp_path / name), "RUN")

    assert scores(one, "one") == scores(two, "two") and one["shipped"]["arm"] == two["shipped"]["arm"]
    assert set(two["timings_seconds"]) >= {"teacher", "student", "baseline"}  # the beside ones timed too
    assert "warnings" not in two or not any("second process" in w for w in two["warnings"])
    assert json.loads((tmp_path / "two" / "env.json").read_text())["torch_threads"] == 1


def test_a_failed_worker_leaves_the_stage_to_the_run(tmp_path):
    """A worker that fails is reported with its log, and the stage is run here instead (where it fails
    again here, the error is the run's)."""
    clock = StageClock(3)
    folder = tmp_path / "stage"
    with Ahead(2, 1, tmp_path / "logs", clock) as ahead:
        ahead.run("broken", folder, operator.truediv, 1, 0)
        with pytest.raises(ZeroDivisionError):
            ahead.wait(folder)
    assert "broken: its second process failed (exit code 1" in ahead.warnings[0]
    assert "ZeroDivisionError" in (tmp_path / "logs" / "broken.log").read_text()


def test_a_busy_worker_leaves_the_next_stage_to_the_run(tmp_path):
    """One slot per extra worker: a stage started while the worker is busy runs here, at once; `wait` on a
    stage this process ran, or that nothing started, returns without waiting."""
    clock = StageClock(3)
    with Ahead(2, 1, tmp_path / "logs", clock) as ahead:
        ahead.run("slow", tmp_path / "slow", time.sleep, 30)
        ahead.run("marker", tmp_path / "marker", write_stage, tmp_path / "marker", "test", _Settings(), {})
        assert stage_complete(tmp_path / "marker") and clock.number == 2
        assert ahead.wait(tmp_path / "marker") and not ahead.wait(tmp_path / "elsewhere")
        process = ahead.started[tmp_path / "slow"].process
        assert process.is_alive()
    assert not process.is_alive()  # leaving stops the workers still running (an error, an interrupt)


def test_one_worker_runs_every_stage_in_place(tmp_path):
    clock = StageClock(1)
    with Ahead(1, None, tmp_path / "logs", clock) as ahead:
        ahead.run("marker", tmp_path / "marker", write_stage, tmp_path / "marker", "test", _Settings(), {})
        assert stage_complete(tmp_path / "marker") and not ahead.started
    assert not (tmp_path / "logs").exists()
