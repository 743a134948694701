"""What one image-loading worker does per second for BLIP at 384 px (BLIP-base's input): the processor's
full `pixel_values` (resize, rescale, normalize, float32) vs seltda's `sampling_inputs` (resize only,
uint8; the model's device rescales and normalizes). Side by side, alternating, one thread; prints the ratio.

    python benchmarks/loader_preprocessing.py --images 256 --size 384
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from seltda.demo import easyvqa
from seltda.models.blip import BlipAdapter
from seltda.models.tiny_blip import build_processor, build_tokenizer, bundled_vocab_file


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=384, help="the vision tower's input size")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    vocabulary = bundled_vocab_file().read_text(encoding="utf-8").splitlines()
    tokenizer = build_tokenizer(Path(tempfile.mkdtemp(prefix="loader-")), vocabulary)
    adapter = BlipAdapter(build_processor(tokenizer, args.size))
    names = sorted({r.image for r in easyvqa.load_split("train")})[: args.images]
    images = [Image.open(easyvqa.image_root() / name).convert("RGB") for name in names]
    rates: dict[str, list[float]] = {"pixel_values": [], "sampling_inputs": []}
    for _ in range(args.repeats):
        for name in rates:
            start = time.perf_counter()
            getattr(adapter, name)(images)
            rates[name].append(len(images) / (time.perf_counter() - start))
    full, resized = (statistics.median(rates[name]) for name in rates)
    print(
        f"{args.images} easy-VQA images -> {args.size} px, one thread: pixel_values {full:.0f} img/s, "
        f"sampling_inputs {resized:.0f} img/s; ratio {resized / full:.2f}x"
    )


if __name__ == "__main__":
    main()
