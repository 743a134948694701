"""Noisy Student's noise (Xie et al. 2020): input augmentation and model dropout while the student trains.

The augmentation never changes a VQA answer: a mild random resized crop (at least `MIN_AREA` of the image,
aspect ratio within `MAX_ASPECT_CHANGE`) placed at a random offset inside the image (the translation),
then resized back to the original size. The window never leaves the image, so no pixel is invented; there
are no flips (left/right questions) and no colour changes (colour questions). It works on a preprocessed
pixel tensor (C x H x W, BLIP) and on a PIL image (chat VLMs) with the same geometry.

Each example gets a fresh draw every epoch, seeded by (training seed, epoch, example): a run, and a resumed
run, is reproducible. `StudentNoise` is the `TrainerCallback` that tracks the epoch, sets the dropout
probability while training and restores the model's original values when training ends (before saving).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from transformers import PretrainedConfig, TrainerCallback

MIN_AREA = 0.85  # share of the image's area a crop keeps, at least
MAX_ASPECT_CHANGE = 0.10  # the crop's aspect ratio is within +-10% of the image's
DROPOUT_NAMES = (  # the standard names of dropout probabilities in transformers configs
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "attention_dropout",
    "hidden_dropout",
    "activation_dropout",
    "dropout",
    "resid_pdrop",
    "embd_pdrop",
    "attn_pdrop",
)
FUNCTIONAL_DROPOUT = ("dropout", "attention_dropout")  # float attributes of attention modules


@dataclass(frozen=True)
class Window:
    """A crop window in fractions of the image: left and top edges, width and height."""

    left: float
    top: float
    width: float
    height: float


def draw_window(generator: torch.Generator) -> Window:
    """A random crop window: area in [MIN_AREA, 1], aspect ratio within MAX_ASPECT_CHANGE, at a random
    offset inside the image."""
    area, aspect, x, y = torch.rand(4, generator=generator, dtype=torch.float64).tolist()
    area = MIN_AREA + (1 - MIN_AREA) * area
    log_range = math.log(1 + MAX_ASPECT_CHANGE)
    aspect = math.exp((2 * aspect - 1) * log_range)
    width, height = min(1.0, math.sqrt(area * aspect)), min(1.0, math.sqrt(area / aspect))
    return Window(left=x * (1 - width), top=y * (1 - height), width=width, height=height)


def augment_tensor(pixels: torch.Tensor, window: Window) -> torch.Tensor:
    """`pixels` (C x H x W) cropped to `window` and resized back (bilinear); same shape and dtype."""
    x0, y0 = 2 * window.left - 1, 2 * window.top - 1  # [-1, 1] coordinates of the window's edges
    theta = torch.tensor(
        [[window.width, 0.0, x0 + window.width], [0.0, window.height, y0 + window.height]],
        dtype=torch.float32,
        device=pixels.device,
    )
    image = pixels.unsqueeze(0).float()
    grid = F.affine_grid(theta.unsqueeze(0), list(image.shape), align_corners=False)
    out = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
    if not pixels.is_floating_point():
        out = out.round().clamp(torch.iinfo(pixels.dtype).min, torch.iinfo(pixels.dtype).max)
    return out.to(pixels.dtype)


def augment_image(image: Image.Image, window: Window) -> Image.Image:
    """`image` cropped to `window` and resized back to its size (bilinear); same size and mode."""
    w, h = image.size
    box = (
        window.left * w,
        window.top * h,
        (window.left + window.width) * w,
        (window.top + window.height) * h,
    )
    return image.resize(image.size, Image.Resampling.BILINEAR, box=box)


def augment(image: Any, generator: torch.Generator) -> Any:
    """One random draw applied to a pixel tensor (C x H x W) or a PIL image."""
    window = draw_window(generator)
    if isinstance(image, torch.Tensor):
        return augment_tensor(image, window)
    return augment_image(image, window)


def example_seed(seed: int, epoch: int, key: str) -> int:
    """A seed for one example in one epoch, the same in every process and on every rerun."""
    digest = hashlib.blake2b(f"{seed}/{epoch}/{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _configs(config: PretrainedConfig) -> list[PretrainedConfig]:
    """`config` and its sub-configs (text, vision, ...), recursively."""
    found = [config]
    for value in vars(config).values():
        if isinstance(value, PretrainedConfig):
            found.extend(_configs(value))
    return found


def set_dropout(model: torch.nn.Module, p: float) -> list[tuple[Any, str, Any]]:
    """Set the dropout probability `p` on the model's config (and sub-configs) under the standard names it
    has, on every `nn.Dropout` and on the attention modules' functional dropout (modules read the config
    when they are built, so both). Returns what `restore` needs: (owner, attribute, original value)."""
    changed: list[tuple[Any, str, Any]] = []

    def assign(owner: Any, name: str, value: Any) -> None:
        changed.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    for config in _configs(model.config):
        for name in DROPOUT_NAMES:
            if isinstance(vars(config).get(name), int | float):
                assign(config, name, p)
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            assign(module, "p", p)
        for name in FUNCTIONAL_DROPOUT:
            if isinstance(vars(module).get(name), float):
                assign(module, name, p)
    return changed


def restore(changed: list[tuple[Any, str, Any]]) -> None:
    """Undo `set_dropout`."""
    for owner, name, value in reversed(changed):
        setattr(owner, name, value)


class StudentNoise(TrainerCallback):
    """Noisy Student for one training run: dropout `p` on `model` from now until training ends, and
    `augment_example` for the collate (a fresh, seeded draw per example and epoch).

    The epoch is read from the Trainer's state when each epoch begins, before its data loader starts (its
    worker processes then see it), so a run resumed from a checkpoint draws what the uninterrupted run drew.
    """

    def __init__(self, model: torch.nn.Module, p: float, seed: int) -> None:
        self.seed = seed
        self.epoch = 0
        self._changed = set_dropout(model, p)

    def augment_example(self, image: Any, key: str) -> Any:
        """`image` (a pixel tensor or a PIL image) augmented for the example named `key` in this epoch."""
        generator = torch.Generator().manual_seed(example_seed(self.seed, self.epoch, key))
        return augment(image, generator)

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.epoch = math.floor((state.epoch or 0) + 1e-6)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        restore(self._changed)
        self._changed = []
