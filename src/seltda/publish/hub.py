"""Upload a run's models and pseudo-labels to the Hugging Face Hub (needs network and a token)."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi

from seltda.core.fileio import SeltdaInputError
from seltda.run.layout import TRAINER_LOG, RunLayout

MODEL_FOLDERS = ("student", "teacher", "baseline")
SKIP = ["checkpoints/*", "*.partial/*", TRAINER_LOG]


def push(run_dir: Path, namespace: str, token: str | None = None, private: bool = True) -> dict[str, str]:
    """Create `<namespace>/<run>-<part>` repos and upload each trained model (with its model card) and the
    pseudo-label dataset. Returns {part: repo_id}."""
    layout = RunLayout(run_dir)
    run_dir = layout.root
    api = HfApi(token=token)
    pushed: dict[str, str] = {}
    trained = layout.trained()
    parts = [(name, trained[name], "model") for name in MODEL_FOLDERS]
    parts.append(("pseudolabels", layout.pseudolabel_dataset, "dataset"))
    present = [(name, folder, kind) for name, folder, kind in parts if (folder.exists())]
    if not present:
        raise SeltdaInputError(f"{run_dir}: no trained model folder or pseudo-label dataset to push")
    for name, folder, kind in present:
        repo_id = f"{namespace}/{run_dir.name}-{name}"
        api.create_repo(repo_id, repo_type=kind, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, repo_type=kind, folder_path=str(folder), ignore_patterns=SKIP)
        pushed[name] = repo_id
    return pushed
