"""A run's models under other image conditions: its test questions asked again about degraded copies of
their images (noise, blur, darker, JPEG, downscaled and back), each model scored per condition with the
run's metric, and each model's gain over the baseline per condition with a paired bootstrap interval.

    python benchmarks/image_conditions.py runs/demo runs/demo-conditions --limit 3000

Run it from the folder the run was started in (its config's relative paths are read as recorded).

Models: the run's baseline, its round-1 student, every arm's first student, and the refit models when
there are any (`--models agreed refit-agreed`: the baseline and those only). Degraded images are written
once under OUT/<condition>/ (same relative paths); results go to OUT/conditions.json. The test questions are
the run's; nothing here chooses a setting.
"""

from __future__ import annotations

import argparse
import io
import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageEnhance, ImageFilter

from seltda.core.records import read_records
from seltda.eval.bootstrap import paired_bootstrap
from seltda.eval.metrics import score_predictions
from seltda.stages.evaluate import EvaluateConfig, predict


def _noise(image: Image.Image, rng: random.Random) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float32)
    noisy = pixels + np.random.default_rng(rng.randrange(2**32)).normal(0, 20, pixels.shape)
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8))


def _jpeg(image: Image.Image, rng: random.Random) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=20)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _small(image: Image.Image, rng: random.Random) -> Image.Image:
    width, height = image.size
    return image.resize((width // 2, height // 2), Image.BILINEAR).resize((width, height), Image.BILINEAR)


CONDITIONS: dict[str, Callable[[Image.Image, random.Random], Image.Image]] = {
    "noise": _noise,  # Gaussian pixel noise, sd 20 of 255
    "blur": lambda image, rng: image.filter(ImageFilter.GaussianBlur(1.0)),
    "dark": lambda image, rng: ImageEnhance.Brightness(image).enhance(0.5),
    "jpeg": _jpeg,  # quality 20
    "small": _small,  # half the resolution, scaled back
}


def degrade(records: list, root: Path, out: Path, condition: str) -> Path:
    """OUT/<condition>/ with a degraded copy of every image the records ask about (seeded per image)."""
    folder = out / condition
    for image in sorted({r.image for r in records}):
        target = folder / image
        if target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        source = Image.open(root / image).convert("RGB")
        CONDITIONS[condition](source, random.Random(f"{condition}/{image}")).save(target, format="PNG")
    return folder


def models(run: Path) -> dict[str, Path]:
    found = {"baseline": run / "baseline", "seltda": run / "student"}
    found |= {arm.name: arm / "student" for arm in sorted((run / "arms").glob("*"))}
    found |= {f"refit-{m.name}": m for m in sorted((run / "refit").glob("*"))}
    return {name: path for name, path in found.items() if (path / "config.json").is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, help="a finished run folder (its config.yaml names the test set)")
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--conditions", nargs="+", default=["clean", *CONDITIONS], choices=["clean", *CONDITIONS]
    )
    parser.add_argument("--limit", type=int, default=None, help="the first N test questions")
    parser.add_argument("--models", nargs="+", help="only these of the run's models (baseline always)")
    args = parser.parse_args()
    config = yaml.safe_load((args.run / "config.yaml").read_text())
    records = read_records(Path(config["test"]))[: args.limit]
    root = Path(config.get("test_images") or config["images"])
    args.out.mkdir(parents=True, exist_ok=True)
    results_file = args.out / "conditions.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    chosen = models(args.run)
    if args.models:
        unknown = set(args.models) - set(chosen)
        if unknown:
            parser.error(f"no such model in {args.run}: {sorted(unknown)} (there are {sorted(chosen)})")
        chosen = {name: path for name, path in chosen.items() if name == "baseline" or name in args.models}
    for condition in args.conditions:
        images = root if condition == "clean" else degrade(records, root, args.out, condition)
        scores = {}
        for name, folder in chosen.items():
            predictions, _ = predict(str(folder), records, images, EvaluateConfig())
            scores[name] = score_predictions(records, predictions)["per_question"]
        ids = sorted(scores["baseline"])
        row = {}
        for name, per_question in scores.items():
            row[name] = {"accuracy": round(float(np.mean([per_question[q] for q in ids])), 2)}
            if name != "baseline":
                gain = paired_bootstrap([scores["baseline"][q] for q in ids], [per_question[q] for q in ids])
                row[name]["gain"] = [
                    round(gain["diff"], 2),
                    round(gain["ci_low"], 2),
                    round(gain["ci_high"], 2),
                ]
        results[condition] = row
        results_file.write_text(json.dumps(results, indent=1))
        print(condition, json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
