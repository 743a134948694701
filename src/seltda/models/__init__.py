"""Model families behind one adapter interface: BLIP, or any Hugging Face image-text-to-text chat VLM.

`model_family` reads the folder's (or hub id's) config; `load_adapter`, `load_vqa` and `load_vqg` return
the family's adapter and models, so the stages never name a family.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

import torch
from transformers import AutoConfig
from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

from seltda.core.fileio import SeltdaInputError
from seltda.models.blip import _missing_model

Family = Literal["blip", "vlm"]


class ModelAdapter(Protocol):
    """What the stages use: preprocessing, the two training targets and decoding."""

    processor: Any
    image_tokens_vary: bool  # whether an image's token count depends on its size (then batch by size)

    def pixel_values(self, images: Sequence[Any]) -> Any: ...
    def sampling_inputs(self, images: Sequence[Any]) -> Any: ...  # a pool loader worker's share
    def sampling_inputs_on(self, inputs: Any, device: Any, dtype: torch.dtype) -> Any: ...  # the device's
    def stack(self, items: Sequence[Any]) -> Any: ...
    def vqa_batch(self, pixel_values: Any, questions: Sequence[str], answers=None, weights=None) -> dict: ...
    def vqa_loss(self, model: torch.nn.Module, batch: dict) -> torch.Tensor: ...
    def answer(self, model: torch.nn.Module, batch: dict) -> list[str]: ...
    def vqg_batch(self, pixel_values: Any, targets: Sequence[str]) -> dict: ...
    def vqg_loss(self, model: torch.nn.Module, batch: dict) -> torch.Tensor: ...
    def sample_questions(self, model: torch.nn.Module, pixel_values: Any, num_samples: int, **kw) -> list: ...


def model_family(name: str) -> Family:
    """`blip` for BLIP folders, `vlm` for other image-text-to-text models; anything else is an input error."""
    try:
        config = AutoConfig.from_pretrained(str(name))
    except (OSError, ValueError) as error:
        raise _missing_model(str(name), error) from error
    if config.model_type == "blip":
        return "blip"
    if config.model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        raise SeltdaInputError(
            f"model '{name}' is a '{config.model_type}' model: pass a BLIP or an image-text-to-text VLM "
            "(e.g. SmolVLM, Qwen2-VL, PaliGemma, LLaVA)"
        )
    return "vlm"


def load_adapter(name: str, max_pixels: int | None = None, **limits: int) -> ModelAdapter:
    """The adapter of `name`'s family; `limits` are token limits (max_question_tokens, ...). `max_pixels`
    caps the image size of dynamic-resolution VLMs (BLIP's processor has one fixed size: ignored)."""
    if model_family(name) == "blip":
        from seltda.models.blip import BlipAdapter

        return BlipAdapter.from_pretrained(str(name), **limits)
    from seltda.models.chat_vlm import VlmAdapter

    return VlmAdapter.from_pretrained(str(name), max_pixels=max_pixels, **limits)


def load_vqa(name: str) -> torch.nn.Module:
    """The model that answers questions (the student): BLIP's VQA model, or the VLM itself."""
    if model_family(name) == "blip":
        from seltda.models.blip import load_vqa_model

        return load_vqa_model(str(name))
    from seltda.models.chat_vlm import load_model

    return load_model(str(name))


def load_vqg(name: str) -> torch.nn.Module:
    """The model that writes question-answer pairs (the teacher): BLIP's captioner, or the VLM itself."""
    if model_family(name) == "blip":
        from seltda.models.blip import load_vqg_model

        return load_vqg_model(str(name))
    from seltda.models.chat_vlm import load_model

    return load_model(str(name))
