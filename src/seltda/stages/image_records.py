"""Records with their images, the dataset that training and evaluation read (`ImageRecords`), and the
record files a training stage takes (`RecordFiles`)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from seltda.core.images import try_load_image
from seltda.core.records import Record, resolve_image_path

AUTO_CACHE_IMAGES = 20_000  # above this, images are decoded lazily (memory stays bounded)

RecordFiles = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
"""What the training stages take as their records: one file or a list of files."""


def record_files(files: RecordFiles) -> list[str | os.PathLike[str]]:
    """``files`` as a list: one path becomes a one-item list."""
    return [files] if isinstance(files, str | os.PathLike) else list(files)


class ImageRecords(Dataset):
    """Records with their images; unreadable images are skipped and counted, never fatal.

    With `cache=True` every image is decoded and preprocessed once, up front (small datasets; the default
    up to 20,000 images); otherwise images are read lazily and an unreadable one yields `None`, which the
    collators drop.
    """

    def __init__(
        self,
        records: Sequence[Record],
        image_root: Path,
        to_pixels: Callable[[list], torch.Tensor],
        cache: bool | None = None,
    ) -> None:
        self.image_root = Path(image_root)
        self.to_pixels = to_pixels
        self.skipped: Counter[str] = Counter()
        self._pixels: dict[str, torch.Tensor] = {}
        if cache is None:
            cache = len({r.image for r in records}) <= AUTO_CACHE_IMAGES
        if cache:
            records = self._preload(records)
        self.records = list(records)

    def _preload(self, records: Sequence[Record]) -> list[Record]:
        from seltda.core.progress import track

        unreadable: set[str] = set()
        for name in track(sorted({r.image for r in records}), description="loading images"):
            pixels = self._load(name)
            if pixels is None:
                unreadable.add(name)
            else:
                self._pixels[name] = pixels
        kept = [r for r in records if r.image not in unreadable]
        self.skipped["records_with_unreadable_image"] += len(records) - len(kept)
        return kept

    def _load(self, name: str) -> torch.Tensor | None:
        image, reason = try_load_image(resolve_image_path(self.image_root, name))
        if image is None:
            self.skipped[reason or "unreadable"] += 1
            return None
        return self.to_pixels([image])[0]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        record = self.records[index]
        pixels = self._pixels.get(record.image)
        if pixels is None:
            pixels = self._load(record.image)
            if pixels is None:
                return None
        return {"pixel_values": pixels, "record": record}
