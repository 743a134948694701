"""A refit is trained with the shipped replicate's seed; one trained with another seed is stale."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from seltda.orchestrate.refit import SEED_FILE, _clear_other_seed
from seltda.run.stage import stage_complete, write_stage


class _Settings(BaseModel):
    seed: int


def _finished_refit(tmp_path: Path, seed: int) -> tuple[Path, Path]:
    folder, evaluation = tmp_path / "refit" / "baseline", tmp_path / "refit" / "eval" / "baseline.json"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    write_stage(folder, "student", _Settings(seed=seed), {})
    evaluation.parent.mkdir(parents=True)
    evaluation.write_text("{}")
    return folder, evaluation


def test_a_refit_with_the_shipped_replicates_seed_is_kept(tmp_path):
    folder, evaluation = _finished_refit(tmp_path, seed=4)
    _clear_other_seed(folder, evaluation, 4)
    assert stage_complete(folder) and evaluation.is_file()


def test_a_refit_with_another_replicates_seed_is_cleared_with_its_evaluation(tmp_path, capsys):
    folder, evaluation = _finished_refit(tmp_path, seed=4)  # replicate 1 was shipped; now replicate 2 is
    _clear_other_seed(folder, evaluation, 5)
    assert not evaluation.exists() and [p.name for p in folder.iterdir()] == [SEED_FILE]
    assert json.loads((folder / SEED_FILE).read_text()) == {"seed": 5}
    assert "trained again with seed 5" in capsys.readouterr().out
    _clear_other_seed(folder, evaluation, 5)  # nothing trained yet, with this seed: nothing to do
    assert (folder / SEED_FILE).is_file() and "trained again" not in capsys.readouterr().out


def test_a_refit_interrupted_with_another_seed_is_cleared_one_with_this_seed_resumes(tmp_path, capsys):
    folder, evaluation = tmp_path / "refit" / "seltda", tmp_path / "refit" / "eval" / "seltda.json"
    _clear_other_seed(folder, evaluation, 4)  # written before training starts
    checkpoint = folder / "checkpoints" / "checkpoint-100"
    checkpoint.mkdir(parents=True)  # then interrupted after a checkpoint
    _clear_other_seed(folder, evaluation, 4)
    assert checkpoint.is_dir()  # the same seed resumes it
    _clear_other_seed(folder, evaluation, 5)
    assert not checkpoint.exists() and "trained again with seed 5" in capsys.readouterr().out
