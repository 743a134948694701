"""benchmarks/image_conditions.py: the degraded copies a run's models are scored on."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from image_conditions import CONDITIONS, degrade  # noqa: E402

from seltda.core.records import Record  # noqa: E402


def test_each_condition_writes_a_changed_same_size_copy_once_and_seeded(tmp_path):
    root = tmp_path / "images"
    (root / "a").mkdir(parents=True)
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(root / "a" / "0.png")
    records = [
        Record(question_id=f"q{i}", image="a/0.png", question="what?", answers=["x"]) for i in range(2)
    ]
    for condition in CONDITIONS:
        first = degrade(records, root, tmp_path / "one", condition) / "a" / "0.png"
        again = degrade(records, root, tmp_path / "two", condition) / "a" / "0.png"
        copy = np.asarray(Image.open(first))
        assert copy.shape == pixels.shape and not np.array_equal(copy, pixels), condition
        assert np.array_equal(copy, np.asarray(Image.open(again))), condition  # seeded per image
