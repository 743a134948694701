"""The vision tower's first stage: supervised classification of one-object corpus images.

BLIP does not pretrain its image encoder from scratch: it starts from a ViT trained to classify ImageNet.
This stage is that step for the tiny BLIP: the vision tower learns to name the object's shape and colour
(labels the corpus generator knows), before image-text pretraining. Captioning alone barely teaches a small
ViT shape (a linear probe of its features told easy-VQA's three shapes apart ~50-73% of the time); direct
classification does (98.7% after 3,000 steps at batch 64).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset
from transformers import BlipVisionModel

from seltda.demo.pretrain import corpus
from seltda.run.stage import read_stage, stage_complete, write_stage
from seltda.stages.train import train
from seltda.stages.train_config import TrainingConfig

SHAPE_INDEX = {shape: i for i, shape in enumerate(corpus.SHAPES)}
COLOR_INDEX = {color: i for i, color in enumerate(corpus.COLORS)}
VISION_STAGE = "vision"  # subfolder of the pretraining folder


class VisionClassifier(nn.Module):
    """A BLIP vision tower with shape and colour heads on its pooled ([CLS]) output."""

    def __init__(self, vision_model: BlipVisionModel) -> None:
        super().__init__()
        self.vision_model = vision_model
        hidden = vision_model.config.hidden_size
        self.shape_head = nn.Linear(hidden, len(SHAPE_INDEX))
        self.color_head = nn.Linear(hidden, len(COLOR_INDEX))

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.vision_model(pixel_values=pixel_values).pooler_output
        return self.shape_head(pooled), self.color_head(pooled)


class LabeledObjects(Dataset):
    """One-object corpus images generated on the fly, with their shape and colour classes."""

    def __init__(self, seed: int, size: int, image_size: int, to_pixels) -> None:
        self.seed, self.size, self.image_size, self.to_pixels = seed, size, image_size, to_pixels

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict:
        image, thing = corpus.labeled_object(self.seed, index, self.image_size)
        return {
            "pixel_values": self.to_pixels([image])[0],
            "shape": SHAPE_INDEX[thing.shape],
            "color": COLOR_INDEX[thing.color],
        }


def collate(items: list[dict]) -> dict:
    return {
        "pixel_values": torch.stack([item["pixel_values"] for item in items]),
        "shape": torch.tensor([item["shape"] for item in items]),
        "color": torch.tensor([item["color"] for item in items]),
    }


def classification_loss(model: VisionClassifier, batch: dict) -> torch.Tensor:
    shape_logits, color_logits = model(batch["pixel_values"])
    return nn.functional.cross_entropy(shape_logits, batch["shape"]) + nn.functional.cross_entropy(
        color_logits, batch["color"]
    )


def pretrain_vision(
    vision_model: BlipVisionModel, cfg: TrainingConfig, out_dir: Path, corpus_seed: int, to_pixels
) -> dict:
    """Train `vision_model` in place as a shape/colour classifier; resumable, marked done in `out_dir`."""
    out_dir = Path(out_dir)
    classifier = VisionClassifier(vision_model)
    weights = out_dir / "vision_model.safetensors"
    if stage_complete(out_dir) and weights.exists():
        from safetensors.torch import load_file

        vision_model.load_state_dict(load_file(weights))
        return read_stage(out_dir)["metrics"]
    dataset = LabeledObjects(corpus_seed + 1, 1_000_000, vision_model.config.image_size, to_pixels)
    cfg = cfg.model_copy(update={"freeze_vision_tower": False})  # this stage trains the tower itself
    trainer, metrics = train(classifier, dataset, collate, classification_loss, cfg, out_dir)
    if trainer.is_world_process_zero():
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in vision_model.state_dict().items()}, weights)
        write_stage(out_dir, "pretrain-vision", cfg, metrics)
    trainer.accelerator.wait_for_everyone()
    return metrics
