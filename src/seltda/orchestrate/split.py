"""Data-scarce splits by image: a labeled fraction of the images with all their questions, the rest a pool
of unlabeled images whose questions the method never reads."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from seltda.core.fileio import atomic_write_text
from seltda.core.records import Record, write_records


def split_by_image(
    records: Sequence[Record], labeled_fraction: float, seed: int = 0
) -> tuple[list[Record], list[str]]:
    """Labeled records (all questions of the chosen images) and the sorted unlabeled image list."""
    if not 0 < labeled_fraction <= 1:
        raise ValueError(f"labeled_fraction must be in (0, 1], got {labeled_fraction}")
    images = sorted({r.image for r in records})
    random.Random(seed).shuffle(images)
    count = max(1, round(labeled_fraction * len(images)))
    labeled_images = set(images[:count])
    labeled = [r for r in records if r.image in labeled_images]
    return labeled, sorted(images[count:])


def write_split(
    records: Sequence[Record], labeled_fraction: float, seed: int, out_dir: Path
) -> dict[str, Path]:
    """Write `labeled.jsonl` and `unlabeled.txt` (one image path per line) into `out_dir`.

    Also returns `pool`: the images the teacher labels, the unlabeled ones, or every image (`pool.txt`)
    when the fraction leaves none unlabeled, so SelTDA relabels the labeled images themselves.
    """
    out_dir = Path(out_dir)
    labeled, unlabeled = split_by_image(records, labeled_fraction, seed)
    paths = {"labeled": out_dir / "labeled.jsonl", "unlabeled": out_dir / "unlabeled.txt"}
    write_records(paths["labeled"], labeled)
    atomic_write_text(paths["unlabeled"], "".join(f"{image}\n" for image in unlabeled))
    paths["pool"] = paths["unlabeled"]
    if not unlabeled:
        paths["pool"] = out_dir / "pool.txt"
        atomic_write_text(
            paths["pool"], "".join(f"{image}\n" for image in sorted({r.image for r in records}))
        )
    return paths


def hold_out_dev(
    records: Sequence[Record], fraction: float, seed: int = 0
) -> tuple[list[Record], list[Record]]:
    """Split labeled records by image into (train, dev): `fraction` of the images, with all their questions,
    go to dev (at least one image, and at least one stays for training). ([], []) for dev when the records
    hold fewer than two images or `fraction` is 0."""
    images = sorted({r.image for r in records})
    if fraction <= 0 or len(images) < 2:
        return list(records), []
    random.Random(f"dev-{seed}").shuffle(images)
    count = min(len(images) - 1, max(1, round(fraction * len(images))))
    dev_images = set(images[:count])
    return [r for r in records if r.image not in dev_images], [r for r in records if r.image in dev_images]


def image_folds(records: Sequence[Record], folds: int, seed: int = 0) -> list[list[Record]]:
    """Split labeled records by image into `folds` folds of (nearly) equal image counts, each image with all
    its questions in one fold; fold order and membership depend on `seed` only."""
    images = sorted({r.image for r in records})
    if folds < 2 or len(images) < folds:
        raise ValueError(f"{folds} folds need at least {max(folds, 2)} labeled images, got {len(images)}")
    random.Random(f"folds-{seed}").shuffle(images)
    fold_of = {image: i % folds for i, image in enumerate(images)}
    out: list[list[Record]] = [[] for _ in range(folds)]
    for record in records:
        out[fold_of[record.image]].append(record)
    return out
