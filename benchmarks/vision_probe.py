"""Does a model's vision tower see shape? A linear probe of its frozen features on easy-VQA's shapes.

For each easy-VQA image with a shape question, the frozen vision tower's [CLS] and mean patch features are
standardised and a linear classifier (circle / rectangle / triangle) is fitted on the train images and
scored on the test images. Chance is ~33%. This measures what pretraining put into the features, before
any VQA fine-tuning; easy-VQA is only used for the measurement, never in pretraining.

    python benchmarks/vision_probe.py src/seltda/assets/tiny-blip-pretrained runs/pt-new
"""

from __future__ import annotations

import argparse
import json

import torch
from PIL import Image
from torch import nn

from seltda.demo import easyvqa
from seltda.models.blip import BlipAdapter, load_vqa_model

SHAPES = ["circle", "rectangle", "triangle"]


def shape_labels(split: str) -> dict[str, int]:
    """Image path -> shape index, for every image with a shape question."""
    labels = {}
    for record in easyvqa.load_split(split):
        if record.question_type == "shape":
            labels[record.image] = SHAPES.index(record.answers[0])
    return labels


@torch.inference_mode()
def features(model_dir: str, images: list[str], batch_size: int = 256) -> torch.Tensor:
    """[CLS] and mean patch features of the frozen vision tower."""
    adapter = BlipAdapter.from_pretrained(model_dir)
    vision = load_vqa_model(model_dir).vision_model.eval()
    root = easyvqa.image_root()
    out = []
    for start in range(0, len(images), batch_size):
        chunk = [Image.open(root / name).convert("RGB") for name in images[start : start + batch_size]]
        states = vision(pixel_values=adapter.prepare_images(chunk)).last_hidden_state
        out.append(torch.cat([states[:, 0], states[:, 1:].mean(dim=1)], dim=-1))
    return torch.cat(out)


def linear_probe(model_dir: str, steps: int = 1500, seed: int = 0) -> dict:
    """Train/test accuracy (%) of a full-batch logistic regression on the frozen features."""
    torch.manual_seed(seed)
    train, test = shape_labels("train"), shape_labels("test")
    x_train, x_test = features(model_dir, list(train)), features(model_dir, list(test))
    y_train, y_test = torch.tensor(list(train.values())), torch.tensor(list(test.values()))
    mean, std = x_train.mean(dim=0), x_train.std(dim=0) + 1e-6
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    head = nn.Linear(x_train.shape[1], len(SHAPES))
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(head(x_train), y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        train_acc = (head(x_train).argmax(-1) == y_train).float().mean().item()
        test_acc = (head(x_test).argmax(-1) == y_test).float().mean().item()
    return {
        "model": model_dir,
        "train_images": len(train),
        "test_images": len(test),
        "train_accuracy": round(100 * train_acc, 2),
        "test_accuracy": round(100 * test_acc, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="+", help="model folders (tiny BLIP or any BLIP checkpoint)")
    args = parser.parse_args()
    for model_dir in args.models:
        print(json.dumps(linear_probe(model_dir)))


if __name__ == "__main__":
    main()
