"""A chat VLM's loading and its input containers: the model and processor from a folder or hub id, the
PIL batch that stands in for a pixel tensor, the loader worker's prompt batch, and small helpers the
adapter (`chat_vlm.py`) uses (device moves, downscaling, PaliGemma's `suffix` check)."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from seltda.models.base import missing_model, quiet_loading


class ImageBatch(list):
    """PIL images in place of a pixel tensor; `.to(device)` is a no-op (the adapter moves its tensors)."""

    def to(self, *args: Any, **kwargs: Any) -> ImageBatch:
        return self


class PromptBatch(dict):
    """A batch's question-generation inputs (processed images and tokenized prompts), built by a pool
    loader worker so that the processor runs beside generation, not before it."""


def load_processor(name: str) -> Any:
    """The processor (image processor + tokenizer + chat template) saved with a model."""
    try:
        return AutoProcessor.from_pretrained(name)
    except (OSError, ValueError) as error:
        raise missing_model(name, error) from error


def load_model(name: str, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """The VLM (float32 by default: the Trainer's mixed precision autocasts); one model for VQA and VQG."""
    try:
        with quiet_loading():
            return AutoModelForImageTextToText.from_pretrained(name, dtype=dtype)
    except (OSError, ValueError) as error:
        raise missing_model(name, error) from error


def _on_device(
    batch: dict[str, torch.Tensor], device: torch.device | str, dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    """The batch on `device`; float inputs (pixels) in `dtype` (bf16 inference)."""
    return {
        key: value.to(device, dtype) if value.is_floating_point() else value.to(device)
        for key, value in batch.items()
    }


def _to_model(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch on the model's device, float inputs in its dtype."""
    return _on_device(batch, model.device, model.dtype)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


def _fit(image: Image.Image, max_pixels: int | None) -> Image.Image:
    """`image` downscaled so that width x height <= max_pixels (unchanged when it already fits)."""
    if max_pixels is None or image.width * image.height <= max_pixels:
        return image
    scale = (max_pixels / (image.width * image.height)) ** 0.5
    size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC)


def _takes_suffix(processor: Any) -> bool:
    """Whether the processor takes a target as `suffix` (PaliGemma's): a parameter of its `__call__`
    (transformers 5.2x), or one of the text keywords its `valid_processor_kwargs` declare (5.1x)."""
    if "suffix" in inspect.signature(processor.__call__).parameters:
        return True
    try:
        text_kwargs = typing.get_type_hints(type(processor).valid_processor_kwargs).get("text_kwargs")
        return text_kwargs is not None and "suffix" in typing.get_type_hints(text_kwargs)
    except (AttributeError, NameError, TypeError):
        return False
