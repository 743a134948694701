"""The unlabeled pool: listing it (a folder, a list or records file, a saved `datasets` folder exported to
files once), decoding its images in DataLoader workers and batching them, smallest first when it helps."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from seltda.core.images import header_pixels, scan_images, try_load_image
from seltda.core.records import UnsafePathError, read_image_list, read_records, resolve_image_path
from seltda.formats.hf_dataset import export_dataset_images, is_saved_dataset
from seltda.stages.pseudolabel.config import PseudoLabelConfig


@dataclass
class Pool:
    """The images to label (relative to `root`) in a stable order, and those refused while listing."""

    root: Path
    images: list[str]
    skips: dict[str, int]


def list_images(image_root: Path, image_list: Path | None) -> tuple[list[str], dict[str, int]]:
    """The pool in a stable order: the images of a records file (`.jsonl`/`.json`), of a list file (one
    path per line), both relative to the root, or a recursive scan of the root."""
    if image_list is None:
        return scan_images(image_root)
    if Path(image_list).suffix.lower() in (".jsonl", ".json"):
        return sorted({record.image for record in read_records(image_list)}), {}
    return sorted(set(read_image_list(image_list))), {}


def load_pool(image_root: Path, out_dir: Path, image_list: Path | None, image_column: str) -> Pool:
    """The pool; a `datasets` folder's images become files under `out_dir/images` once."""
    if is_saved_dataset(image_root):
        images, skips = export_dataset_images(image_root, out_dir / "images", image_column=image_column)
        return Pool(out_dir / "images", images, skips)
    images, skips = list_images(Path(image_root), image_list)
    return Pool(Path(image_root), images, skips)


class PoolImages(Dataset):
    """The images of one shard, decoded (in DataLoader workers when asked); bad ones carry their reason."""

    def __init__(self, names: list[str], image_root: Path) -> None:
        self.names = names
        self.image_root = image_root

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> tuple[str, Any, str | None]:
        name = self.names[index]
        try:
            picture, reason = try_load_image(resolve_image_path(self.image_root, name))
        except UnsafePathError:
            picture, reason = None, "outside_root"
        return name, picture, reason


def size_ordered(names: list[str], image_root: Path) -> list[str]:
    """The images from the fewest pixels to the most (header sizes; unreadable and unsafe ones last, to
    be skipped and reported when loaded), so that a batch of a dynamic-resolution VLM pads little."""

    def pixels(name: str) -> float:
        try:
            count = header_pixels(resolve_image_path(image_root, name))
        except UnsafePathError:
            count = None
        return float("inf") if count is None else count

    return sorted(names, key=lambda name: (pixels(name), name))


def decoding_workers(cfg: PseudoLabelConfig) -> int:
    """Image-decoding processes: none on a CPU (they compete with the model), half the cores (at most 8)
    beside a GPU, which outruns one process's decoding and resizing."""
    if cfg.dataloader_workers is not None:
        return cfg.dataloader_workers
    return min(8, max(1, (os.cpu_count() or 2) // 2)) if torch.cuda.is_available() else 0


def image_batches(
    names: list[str], image_root: Path, prepare: Callable[[list[Any]], Any], batch_size: int, workers: int
) -> DataLoader:
    """Batches of (names, pictures, sampling inputs, skip reasons); decoding and the engine's loader-side
    preprocessing (`prepare`: the adapter's `sampling_inputs` for transformers) run in `workers`
    processes, prefetched while the model generates. No batch is dropped."""

    def collate(items: list[tuple[str, Any, str | None]]) -> dict[str, Any]:
        good = [(name, picture) for name, picture, _ in items if picture is not None]
        return {
            "names": [name for name, _ in good],
            "pictures": [picture for _, picture in good],
            "inputs": prepare([p for _, p in good]) if good else None,
            "skips": [reason or "unreadable" for _, picture, reason in items if picture is None],
        }

    extra = {"prefetch_factor": 2, "persistent_workers": False} if workers > 0 else {}
    return DataLoader(
        PoolImages(names, image_root),
        batch_size=batch_size,
        shuffle=False,
        drop_last=False,
        num_workers=workers,
        collate_fn=collate,
        **extra,
    )
