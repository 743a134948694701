"""A practitioner's first hour, reproduced: a small VQA set of coloured digits kept the way people keep
their data (a CSV with one answer per row and image folders), converted and run through the CLI.

    python benchmarks/digits_walkthrough.py --out runs/digits        # writes the data and the run config
    seltda convert table runs/digits/train.csv --out runs/digits/train.jsonl
    seltda convert table runs/digits/test.csv --out runs/digits/test.jsonl
    seltda run runs/digits/run.yaml

300 labeled images with 3 questions each (digit, colour, "is the digit even?"), 300 test images and 300
unlabeled images; each image a digit drawn in one of 5 colours on a noisy background.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

COLORS = {
    "red": (210, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 70, 210),
    "orange": (240, 140, 20),
    "purple": (140, 50, 170),
}


def draw_digit(digit: int, color: str, rng: random.Random, size: int = 64) -> Image.Image:
    background = tuple(rng.randint(215, 255) for _ in range(3))
    image = Image.new("RGB", (size, size), background)
    pen = ImageDraw.Draw(image)
    for _ in range(40):  # speckle noise
        x, y = rng.randrange(size), rng.randrange(size)
        pen.point((x, y), fill=tuple(rng.randint(150, 255) for _ in range(3)))
    font = ImageFont.load_default(size=rng.randint(34, 46))
    pen.text((rng.randint(14, 24), rng.randint(4, 12)), str(digit), fill=COLORS[color], font=font)
    return image


def questions(digit: int, color: str) -> list[tuple[str, str]]:
    return [
        ("what digit is shown?", str(digit)),
        ("what color is the digit?", color),
        ("is the digit even?", "yes" if digit % 2 == 0 else "no"),
    ]


def write_split(out: Path, name: str, count: int, rng: random.Random, labeled: bool) -> None:
    folder = out / "images" / name
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(count):
        digit, color = rng.randrange(10), rng.choice(list(COLORS))
        path = f"{name}/{index:04d}.png"
        draw_digit(digit, color, rng).save(out / "images" / path)
        rows += [(path, q, a) for q, a in questions(digit, color)]
    if labeled:
        with (out / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image_path", "question", "answer"])
            writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/digits"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    out = args.out
    write_split(out, "train", 300, rng, labeled=True)
    write_split(out, "test", 300, rng, labeled=True)
    write_split(out, "unlabeled", 300, rng, labeled=False)
    (out / "run.yaml").write_text(
        f"out: {out / 'run'}\n"
        f"train: {out / 'train.jsonl'}\n"
        f"images: {out / 'images'}\n"
        f"unlabeled_images: {out / 'images' / 'unlabeled'}\n"
        f"test: {out / 'test.jsonl'}\n"
        f"teacher: {{max_steps: {args.steps}}}\n"
        f"student: {{max_steps: {args.steps}}}\n",
        encoding="utf-8",
    )
    print(f"wrote {out}/train.csv, test.csv, images/ and run.yaml")


if __name__ == "__main__":
    main()
