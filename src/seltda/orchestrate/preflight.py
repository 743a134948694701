"""Checks made before any training step, so a mistake costs seconds, not the hours of a teacher run.

`check_inputs` opens every path of a run config (records parse, image roots exist, the pool is not empty,
the model is a folder or a cached hub id); `stale_stages` compares the settings a finished run folder
recorded with the new ones and names the finished stages they would change. Records files are compared by
content (`inputs.json`): one edited in place is a changed input, one moved or copied unchanged is not.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from seltda.core.fileio import SeltdaInputError, file_sha256, read_json
from seltda.core.records import read_records
from seltda.formats.hf_dataset import is_saved_dataset
from seltda.models.registry import NAMED_MODELS, resolve_model
from seltda.models.tiny_blip import SCRATCH_TINY
from seltda.orchestrate.crossfit import resolve_dev_folds
from seltda.orchestrate.recipes import Recipe, resolve_recipe
from seltda.orchestrate.run_config import AUTO, RunConfig
from seltda.run.layout import RunLayout
from seltda.run.pseudolabels import PseudoLabelFolder
from seltda.run.stage import stage_complete
from seltda.stages.pseudolabel.pool import list_images

INPUT_FILES = ("train", "test", "dev", "unlabeled_list")  # records files: compared by their content
RECIPE_LISTS = ("candidates", "references")  # compared recipe by recipe (`_recipes_changed`)
# which settings each stage's result depends on (the run's resolved config, top-level keys)
_BASE = (
    "train",
    "images",
    "model",
    "tiny",
    "seed",
    "threads",
    "dev",
    "dev_images",
    "dev_fraction",
    "dev_folds",
)
_TEACHER = (*_BASE, "teacher", "teacher_on_pseudolabels")
_PSEUDOLABELS = (*_TEACHER, "unlabeled_images", "unlabeled_list", "pseudolabel")
STAGE_SETTINGS: dict[str, tuple[str, ...]] = {
    "baseline": (*_BASE, "student"),
    "teacher": _TEACHER,
    "pseudolabels": _PSEUDOLABELS,
    "student": (*_PSEUDOLABELS, "student"),
    "evaluation": (*_PSEUDOLABELS, "student", "test", "test_images", "evaluate"),
    "arms": (*_PSEUDOLABELS, "student", "evaluate", "replicates", "candidates", "references"),
}


def _unused(config: dict[str, Any]) -> set[str]:
    """The settings a run does not read, given its others (a change to one of them changes nothing):
    `dev_fraction` when `dev:` records or `dev_folds` make the dev split, `dev_images` without `dev:`."""
    unused = set()
    folds = config.get("dev_folds")
    if config.get("dev") is not None or (isinstance(folds, int) and folds >= 2):
        unused.add("dev_fraction")
    if config.get("dev") is None:
        unused.add("dev_images")
    return unused


def _need_file(path: Path | None, what: str) -> None:
    if path is not None and not Path(path).is_file():
        raise SeltdaInputError(f"{what}: file not found: {path}")


def _need_dir(path: Path | None, what: str) -> None:
    if path is not None and not Path(path).is_dir():
        raise SeltdaInputError(f"{what}: folder not found: {path}")


def check_inputs(cfg: RunConfig) -> dict[str, Any]:
    """Every input of a run, opened before anything is trained; returns what was found (counts)."""
    _need_file(cfg.train, "train")
    _need_dir(cfg.images, "images")
    train = read_records(cfg.train)  # malformed records: file, line and field, now
    if not train:
        raise SeltdaInputError(f"train: no records in {cfg.train}")
    found: dict[str, Any] = {"train_records": len(train)}
    if cfg.test is not None:
        _need_file(cfg.test, "test")
        _need_dir(cfg.test_images, "test_images")
        found["test_records"] = len(read_records(cfg.test))
        if not found["test_records"]:
            raise SeltdaInputError(f"test: no records in {cfg.test}")
    pool_root = cfg.unlabeled_images or cfg.images
    _need_dir(pool_root, "unlabeled_images")
    _need_file(cfg.unlabeled_list, "unlabeled_list")
    if not is_saved_dataset(pool_root):
        images, _ = list_images(Path(pool_root), cfg.unlabeled_list)
        if not images:
            raise SeltdaInputError(
                f"unlabeled_images: no images in {pool_root}"
                + (f" listed by {cfg.unlabeled_list}" if cfg.unlabeled_list else "")
                + ": SelTDA needs unlabeled images of the domain to pseudo-label"
            )
        found["pool_images"] = len(images)
    if cfg.model is not None and cfg.model not in (*NAMED_MODELS, SCRATCH_TINY):
        resolve_model(cfg.model)  # a missing folder, or a hub id not cached while offline, fails here
    return found


def _shipped(value: Any) -> Any:
    """A path to a model shipped inside seltda (`.../seltda/models/assets/<name>`), as the same token
    whichever install or worktree of seltda wrote it (`<seltda asset NAME>`): the demo passes the shipped
    weights by path, and a run folder made by another install is not stale for that. The bare name stays
    distinct (a named model is fitted into the run's `base/`; a path is used as it is)."""
    if not isinstance(value, str) or "assets" not in value:
        return value
    parts = Path(value).parts
    if len(parts) >= 4 and parts[-4:-1] == ("seltda", "models", "assets") and parts[-1] in NAMED_MODELS:
        return f"<seltda asset {parts[-1]}>"
    return value


def _changed(old: Any, new: Any, prefix: str) -> list[str]:
    """Dotted names of the settings that differ between two config dumps."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [c for k in keys for c in _changed(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if _shipped(old) == _shipped(new) else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]


def input_digests(cfg: RunConfig) -> dict[str, str]:
    """The sha256 of each records file of `cfg` (`INPUT_FILES`), by setting; the run writes them to
    `inputs.json` beside `config.yaml`."""
    paths = {key: getattr(cfg, key) for key in INPUT_FILES}
    return {
        key: file_sha256(path) for key, path in paths.items() if path is not None and Path(path).is_file()
    }


def _input_changed(key: str, old: Any, new: Any, old_digest: str, new_digest: str) -> list[str]:
    """A records file compared by content: the same bytes under another path is no change."""
    if old_digest == new_digest:
        return []
    if old == new:
        return [
            f"{key}: {new} was edited since the run read it (sha256 {old_digest[:12]} -> {new_digest[:12]})"
        ]
    return [f"{key}: {old!r} -> {new!r} (other content)"]


def _recipe_definitions(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A config dump's recipes by name, each as resolved (built-in names written out)."""
    named = [*(config.get("candidates") or []), *(config.get("references") or [])]
    with contextlib.suppress(ValueError, ValidationError):
        return {r.name: r.model_dump(mode="json") for r in map(resolve_recipe, _as_recipes(named))}
    return {"?": {"recorded": named}}  # unreadable: compared as it is


def _as_recipes(named: list[Any]) -> list[str | Recipe]:
    return [r if isinstance(r, str) else Recipe.model_validate(r) for r in named]


def _recipes_changed(recorded: dict[str, Any], resolved: RunConfig) -> list[str]:
    """The recipes a finished run trained under another definition. A recipe added or dropped, or moved
    between candidates and references, changes no finished arm: a new one is trained, and the verdict is
    made again over the arms of the new lists."""
    old = _recipe_definitions(recorded)
    new = _recipe_definitions(resolved.model_dump(mode="json"))
    return [
        f"recipe {name}: {old[name]!r} -> {new[name]!r}"
        for name in old
        if name in new and old[name] != new[name]
    ]


def _replicate_folders(layout: RunLayout) -> list[Path]:
    """The folders of replicates k >= 2 (`baseline-r2/`, `student-r2/`)."""
    return sorted(p for p in layout.root.glob("*-r[0-9]*") if p.is_dir())


def _begun(folder: Path) -> bool:
    """A training stage finished, or interrupted after a Trainer checkpoint (a rerun resumes from it)."""
    return stage_complete(folder) or any((folder / "checkpoints").glob("checkpoint-*"))


def _sampled(folder: PseudoLabelFolder) -> bool:
    """Pseudo-labeling finished, or interrupted after a shard was written (a rerun resumes the shards)."""
    return folder.manifest.is_file() or (folder.shards.is_dir() and any(folder.shards.iterdir()))


def stale_stages(resolved: RunConfig, digests: dict[str, str] | None = None) -> dict[str, list[str]]:
    """The finished stages of `resolved.out` whose recorded settings differ from `resolved`'s.

    `resolved` is the run config as the pipeline records it (stages pointed at the base model); `digests`,
    its `input_digests` when the caller already has them (the pipeline records them too).
    """
    layout = RunLayout(resolved.out)
    if not layout.config.is_file():
        return {}
    resolved = resolve_dev_folds(resolved)  # `auto` compared as the number the run records
    recorded = yaml.safe_load(layout.config.read_text(encoding="utf-8")) or {}
    # settings added to seltda since the folder was made compare as their defaults (when one was renamed or
    # removed since, what was recorded is compared as it is)
    recorded.setdefault("dev_folds", 0)  # made before cross-fitting existed: one held-out split
    with contextlib.suppress(ValidationError):
        recorded = RunConfig.model_validate(recorded).model_dump(mode="json")
    current = resolved.model_dump(mode="json")
    if recorded.get("dev_folds") == AUTO:  # what `auto` resolves to depends on settings compared below
        recorded["dev_folds"] = current["dev_folds"]
    # folders made before `inputs.json` existed compare their records files by path
    old_digests = read_json(layout.inputs) if layout.inputs.is_file() else {}
    new_digests = {}
    if old_digests:
        new_digests = digests if digests is not None else input_digests(resolved)
    finished = {  # a training interrupted after a checkpoint counts: a rerun would resume from it
        "baseline": _begun(layout.baseline),
        "teacher": _begun(layout.round(1).teacher),
        "pseudolabels": _sampled(PseudoLabelFolder(layout.round(1).pseudolabels)),
        "student": _begun(layout.round(1).student),
        "evaluation": layout.baseline_eval.is_file(),
        "arms": layout.arms.is_dir() or bool(_replicate_folders(layout)),
    }
    unused = _unused(recorded) & _unused(current)
    stale = {}
    for stage, keys in STAGE_SETTINGS.items():
        if not finished[stage]:
            continue
        changes = []
        for key in keys:
            if key in RECIPE_LISTS or key in unused:
                continue
            old, new = recorded.get(key), current.get(key)
            if key in old_digests and key in new_digests:
                changes += _input_changed(key, old, new, old_digests[key], new_digests[key])
            else:
                changes += _changed(old, new, f"{key}.")
        if stage == "arms":
            changes += _recipes_changed(recorded, resolved)
        if changes:
            stale[stage] = changes
    return stale


def refuse_stale(resolved: RunConfig, digests: dict[str, str] | None = None) -> None:
    """Stop before anything is written when a finished stage was made with other settings."""
    stale = stale_stages(resolved, digests)
    if not stale:
        return
    changes = sorted({c for found in stale.values() for c in found})
    raise SeltdaInputError(
        f"{resolved.out} holds a finished run made with other settings ({'; '.join(changes)}); "
        f"the finished stages this changes: {', '.join(stale)}. Rerun with --force to retrain them and "
        "what follows, or choose a new 'out:' folder"
    )


def clear_stale(resolved: RunConfig, digests: dict[str, str] | None = None) -> list[Path]:
    """`--force`: delete the finished stages the new settings change, and everything downstream of them
    (later rounds, evaluations, `metrics.json`); returns what was deleted."""
    stale = stale_stages(resolved, digests)
    if not stale:
        return []
    layout = RunLayout(resolved.out)
    first = layout.round(1)
    doomed: list[Path] = [layout.metrics, layout.eval_dir, first.eval_dir]
    if stale:  # every other arm and replicate, and the refit, train after the stages above
        doomed += [layout.arms, *_replicate_folders(layout), layout.refit]
    if "baseline" in stale:  # a fitted tiny base's vocabulary comes from the train part; each dev fold's
        doomed += [layout.baseline, layout.selection, layout.base]  # run clears its own stale stages
    chain = [("teacher", first.teacher), ("pseudolabels", first.pseudolabels), ("student", first.student)]
    for index, (stage, _) in enumerate(chain):
        if stage in stale:
            doomed += [path for _, path in chain[index:]]
            doomed += sorted(layout.root.glob("round[0-9]*"))
            break
    removed = []
    for path in dict.fromkeys(doomed):
        if path.is_dir():
            shutil.rmtree(path)
            removed.append(path)
        elif path.is_file():
            path.unlink()
            removed.append(path)
    return removed
