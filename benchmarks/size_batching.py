"""Batching a dynamic-resolution VLM's pool by image size: image-token padding with and without it.

A Qwen2-VL-style model turns each image into a number of tokens that grows with its size (Qwen2-VL's
default resizing: 14-pixel patches merged 2x2, at most 1,280 x 28 x 28 pixels); a batch pads every
prompt to its largest image. `seltda.stages.pseudolabel.size_ordered` sorts each shard by header size before
batching. This counts, for a pool of random sizes (fixed seed), the token positions the batches hold,
padding included, in the pool's stable path order and in size order, and prints their ratio: the prefill
work saved (a count, not a timing).

    python benchmarks/size_batching.py --images 4096 --batch-size 16
"""

from __future__ import annotations

import argparse
import random

from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

PATCH, MERGE, MIN_PIXELS, MAX_PIXELS = 14, 2, 56 * 56, 28 * 28 * 1280


def image_tokens(width: int, height: int) -> int:
    """Qwen2-VL's visual tokens for one image after its resizing."""
    resized_height, resized_width = smart_resize(
        height, width, factor=PATCH * MERGE, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS
    )
    return (resized_height // PATCH) * (resized_width // PATCH) // (MERGE * MERGE)


def batch_positions(tokens: list[int], batch_size: int) -> int:
    """Token positions of all batches: each batch is as long as its largest image."""
    return sum(
        max(tokens[start : start + batch_size]) * len(tokens[start : start + batch_size])
        for start in range(0, len(tokens), batch_size)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--shard-size", type=int, default=512, help="seltda sorts within each shard")
    parser.add_argument("--min-side", type=int, default=224)
    parser.add_argument("--max-side", type=int, default=1344)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    sides = [
        (rng.randint(args.min_side, args.max_side), rng.randint(args.min_side, args.max_side))
        for _ in range(args.images)
    ]
    tokens = [image_tokens(width, height) for width, height in sides]
    shards = [tokens[i : i + args.shard_size] for i in range(0, len(tokens), args.shard_size)]
    path_order = sum(batch_positions(shard, args.batch_size) for shard in shards)
    size_order = sum(batch_positions(sorted(shard), args.batch_size) for shard in shards)
    useful = sum(tokens)
    print(
        f"{args.images} images of {args.min_side}-{args.max_side} px per side, batch {args.batch_size}: "
        f"image-token positions, path order {path_order:,} ({100 * (1 - useful / path_order):.1f}% padding), "
        f"size order {size_order:,} ({100 * (1 - useful / size_order):.1f}% padding); "
        f"ratio {path_order / size_order:.2f}x"
    )


if __name__ == "__main__":
    main()
