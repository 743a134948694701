"""A practitioner's mistakes caught before any training step, and reruns that never lie."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from conftest import tiny_run_config

from seltda.core.fileio import SeltdaInputError
from seltda.orchestrate.pipeline import load_run_config, run
from seltda.run.stage import read_stage


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"test": Path("tset.jsonl")}, "test: file not found: tset.jsonl"),
        ({"unlabeled_images": Path("no/such/pool")}, "unlabeled_images: folder not found"),
        ({"train": Path("trian.jsonl")}, "train: file not found: trian.jsonl"),
        ({"model": "runs/no/such/folder"}, "folder not found"),
        ({"model": "someone/not-cached-model"}, "not in the Hugging Face cache and HF_HUB_OFFLINE is set"),
    ],
)
def test_a_bad_input_stops_the_run_before_anything_is_written(dataset, tiny_model, tmp_path, change, message):
    out = tmp_path / "run"
    with pytest.raises(SeltdaInputError, match=message.replace(".", r"\.")):
        run(tiny_run_config(dataset, tiny_model, out, **change))
    assert not out.exists()  # nothing trained, nothing written


def test_an_empty_pool_is_an_error_not_a_silent_baseline(dataset, tiny_model, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SeltdaInputError, match="no images in"):
        run(tiny_run_config(dataset, tiny_model, tmp_path / "run", unlabeled_images=empty))


def test_a_config_without_test_must_say_so(dataset, tmp_path):
    base = {"out": str(tmp_path / "run"), "train": str(dataset["train"]), "images": str(dataset["root"])}
    (tmp_path / "silent.yaml").write_text(yaml.safe_dump(base))
    with pytest.raises(SeltdaInputError, match="no 'test:' records"):
        load_run_config(tmp_path / "silent.yaml")
    (tmp_path / "explicit.yaml").write_text(yaml.safe_dump({**base, "test": None}))
    assert load_run_config(tmp_path / "explicit.yaml").test is None


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_a_rerun_with_a_changed_setting_is_refused_or_retrained_never_relabelled(
    dataset, tiny_model, tmp_path
):
    out = tmp_path / "run"
    # min_score 0 keeps no pair (a mean log-probability is negative): the run says so
    first = run(tiny_run_config(dataset, tiny_model, out, pseudolabel={"per_image": 2, "min_score": 0.0}))
    assert first["pseudolabels"]["funnel"]["kept"] == 0
    assert any("kept no pair" in w for w in first["warnings"])
    frozen = {p: _md5(p) for p in (out / "config.yaml", out / "metrics.json", out / "student" / "README.md")}
    weights = _md5(out / "student" / "model.safetensors")

    # the same config again: nothing retrained, no stage time rewritten as 0 s
    again = run(tiny_run_config(dataset, tiny_model, out, pseudolabel={"per_image": 2, "min_score": 0.0}))
    assert again["timings_seconds"] == first["timings_seconds"]
    original = dataset["train"].read_bytes()
    assert json.loads((out / "inputs.json").read_text())["train"] == hashlib.sha256(original).hexdigest()

    # the labels fixed in place, same path: every stage that read them is stale
    dataset["train"].write_bytes(original.replace(b'"answers":["', b'"answers":["fixed ', 1))
    with pytest.raises(SeltdaInputError, match=r"train: .*train\.jsonl was edited since the run read it"):
        run(tiny_run_config(dataset, tiny_model, out, pseudolabel={"per_image": 2, "min_score": 0.0}))
    assert {p: _md5(p) for p in frozen} == frozen
    dataset["train"].write_bytes(original)

    changed = tiny_run_config(
        dataset,
        tiny_model,
        out,
        student={"max_steps": 3, "batch_size": 4, "save_steps": 1},
        pseudolabel={"per_image": 2, "min_score": 0.0},
    )
    with pytest.raises(SeltdaInputError, match=r"student\.max_steps: 2 -> 3.*--force"):
        run(changed)
    assert {p: _md5(p) for p in frozen} == frozen  # the refused rerun rewrote nothing
    assert _md5(out / "student" / "model.safetensors") == weights

    run(changed, force=True)
    assert read_stage(out / "student")["config"]["max_steps"] == 3
    assert read_stage(out / "baseline")["config"]["max_steps"] == 3
    assert read_stage(out / "student")["metrics"]["steps"] == 3
    assert read_stage(out / "refit" / "baseline")["config"]["max_steps"] == 3  # the refit is retrained too
    recorded = yaml.safe_load((out / "config.yaml").read_text())
    assert recorded["student"]["max_steps"] == 3
    assert json.loads((out / "metrics.json").read_text())["timings_seconds"]["student"] > 0


def test_a_folder_made_before_a_setting_existed_is_not_stale(dataset, tiny_model, tmp_path):
    from seltda.orchestrate.preflight import stale_stages

    cfg = tiny_run_config(dataset, tiny_model, tmp_path / "run")
    recorded = cfg.model_dump(mode="json")
    for newer in (
        "replicates",
        "candidates",
        "dev_fraction",
        "dev_folds",
    ):  # absent from an older config.yaml
        recorded.pop(newer)
    recorded["student"].pop("noise")
    (cfg.out / "baseline").mkdir(parents=True)
    (cfg.out / "baseline" / "seltda_stage.json").write_text("{}")
    (cfg.out / "config.yaml").write_text(yaml.safe_dump(recorded))
    assert stale_stages(cfg) == {}
    assert "baseline" in stale_stages(cfg.model_copy(update={"dev_fraction": 0.3}))


def test_a_setting_the_run_does_not_read_is_not_stale(dataset, tiny_model, tmp_path):
    """`dev_fraction` sizes the held-out dev only: under `dev_folds` (or with `dev:` records) changing it
    retrains nothing; changing it for a held-out split, or changing `dev_folds`, still does."""
    from seltda.orchestrate.preflight import stale_stages

    cfg = tiny_run_config(dataset, tiny_model, tmp_path / "run").model_copy(update={"dev_folds": 3})
    (cfg.out / "baseline").mkdir(parents=True)
    (cfg.out / "baseline" / "seltda_stage.json").write_text("{}")
    (cfg.out / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    assert stale_stages(cfg.model_copy(update={"dev_fraction": 0.35})) == {}
    assert "baseline" in stale_stages(cfg.model_copy(update={"dev_folds": 4}))
    held_out = cfg.model_copy(update={"dev_folds": 0})
    (cfg.out / "config.yaml").write_text(yaml.safe_dump(held_out.model_dump(mode="json")))
    assert "baseline" in stale_stages(held_out.model_copy(update={"dev_fraction": 0.35}))
    assert stale_stages(held_out.model_copy(update={"dev_images": tmp_path})) == {}  # read with `dev:` only


def test_the_shipped_weights_by_another_installs_path_are_not_stale(dataset, tiny_model, tmp_path):
    """The demo passes the shipped tiny BLIP by path: a folder made by another install or worktree of
    seltda (another path to the same asset) is not refused; another model, or the name, still is."""
    from seltda.models.registry import NAMED_MODELS, PRETRAINED_TINY
    from seltda.orchestrate.preflight import stale_stages

    here = str(NAMED_MODELS[PRETRAINED_TINY])
    cfg = tiny_run_config(dataset, tiny_model, tmp_path / "run").model_copy(update={"model": here})
    recorded = cfg.model_dump(mode="json")
    recorded["model"] = f"/elsewhere/venv/lib/python3.11/site-packages/seltda/models/assets/{PRETRAINED_TINY}"
    (cfg.out / "baseline").mkdir(parents=True)
    (cfg.out / "baseline" / "seltda_stage.json").write_text("{}")
    (cfg.out / "config.yaml").write_text(yaml.safe_dump(recorded))
    assert stale_stages(cfg) == {}
    assert "baseline" in stale_stages(cfg.model_copy(update={"model": str(tiny_model)}))
    assert "baseline" in stale_stages(cfg.model_copy(update={"model": PRETRAINED_TINY}))


def test_recipes_added_or_moved_change_no_finished_arm_a_redefined_one_does(dataset, tiny_model, tmp_path):
    """A user adds a recipe to a finished run: only the new arm trains; a recipe of the same name written
    with other settings makes the finished arms stale."""
    from seltda.orchestrate.preflight import stale_stages

    ratio3 = {"name": "ratio3", "student": {"synthetic_ratio": 3}}
    cfg = tiny_run_config(dataset, tiny_model, tmp_path / "run", candidates=["seltda", ratio3])
    (cfg.out / "arms").mkdir(parents=True)
    (cfg.out / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))

    def rerun(**lists):
        return tiny_run_config(dataset, tiny_model, tmp_path / "run", **lists)

    assert stale_stages(rerun(candidates=["seltda", "aimed", ratio3], references=["plain"])) == {}
    assert stale_stages(rerun(candidates=["seltda"], references=[ratio3])) == {}
    redefined = rerun(candidates=["seltda", {"name": "ratio3", "student": {"synthetic_ratio": 4}}])
    assert list(stale_stages(redefined)) == ["arms"]
    assert "recipe ratio3" in stale_stages(redefined)["arms"][0]


def _finished_baseline(cfg) -> None:
    (cfg.out / "baseline").mkdir(parents=True)
    (cfg.out / "baseline" / "seltda_stage.json").write_text("{}")
    (cfg.out / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))


def test_records_files_are_compared_by_content_not_by_path(dataset, tiny_model, tmp_path):
    """A records file moved or copied unchanged leaves the run as it was; one edited in place, or replaced
    by other records, makes the stages that read it stale."""
    from seltda.orchestrate.preflight import input_digests, stale_stages

    cfg = tiny_run_config(dataset, tiny_model, tmp_path / "run")
    _finished_baseline(cfg)
    (cfg.out / "inputs.json").write_text(json.dumps(input_digests(cfg)))
    assert stale_stages(cfg) == {}
    moved = tmp_path / "elsewhere" / "train.jsonl"
    moved.parent.mkdir()
    moved.write_bytes(dataset["train"].read_bytes())
    assert stale_stages(cfg.model_copy(update={"train": moved})) == {}

    moved.write_text("\n".join(moved.read_text().splitlines()[1:]) + "\n")  # one record fewer
    other = stale_stages(cfg.model_copy(update={"train": moved}))
    assert "baseline" in other and "(other content)" in other["baseline"][0]
    dataset["train"].write_text(dataset["train"].read_text().replace('"circle"', '"square"', 1))
    edited = stale_stages(cfg)
    assert "baseline" in edited and "was edited since the run read it" in edited["baseline"][0]


def test_a_folder_without_inputs_json_compares_records_files_by_path(dataset, tiny_model, tmp_path):
    from seltda.orchestrate.preflight import stale_stages

    cfg = tiny_run_config(dataset, tiny_model, tmp_path / "run")
    _finished_baseline(cfg)
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(dataset["train"].read_bytes())
    assert stale_stages(cfg) == {}
    assert "baseline" in stale_stages(cfg.model_copy(update={"train": copy}))


def test_a_training_interrupted_after_a_checkpoint_is_compared_like_a_finished_one(
    dataset, tiny_model, tmp_path
):
    """A baseline killed after its first checkpoint would resume from it: a rerun with other training
    settings must not continue it under the new ones (refused, or cleared by --force)."""
    from seltda.orchestrate.preflight import clear_stale, stale_stages

    cfg = tiny_run_config(dataset, tiny_model, tmp_path / "run")
    (cfg.out / "baseline" / "checkpoints" / "checkpoint-1").mkdir(parents=True)
    (cfg.out / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    assert stale_stages(cfg) == {}  # the same settings resume it
    changed = cfg.model_copy(update={"student": cfg.student.model_copy(update={"learning_rate": 1e-3})})
    assert "baseline" in stale_stages(changed)
    assert cfg.out / "baseline" in clear_stale(changed)
    assert not (cfg.out / "baseline").exists()


def test_pseudo_labeling_interrupted_after_a_shard_is_compared_like_a_finished_one(
    dataset, tiny_model, tmp_path
):
    """Shards on disk are resumed: a rerun with other sampling settings must not mix them with new ones."""
    from seltda.orchestrate.preflight import clear_stale, stale_stages

    cfg = tiny_run_config(dataset, tiny_model, tmp_path / "run")
    shards = cfg.out / "pseudolabels" / "shards"
    shards.mkdir(parents=True)
    (cfg.out / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    changed = cfg.model_copy(update={"pseudolabel": cfg.pseudolabel.model_copy(update={"per_image": 5})})
    assert stale_stages(changed) == {}  # an empty shards folder: nothing sampled yet
    (shards / "shard-00000.jsonl").write_text("")
    assert stale_stages(cfg) == {}  # the same settings resume it
    assert "pseudolabels" in stale_stages(changed)
    assert cfg.out / "pseudolabels" in clear_stale(changed)
    assert not (cfg.out / "pseudolabels").exists()
