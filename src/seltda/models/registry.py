"""Which adapter and models a model name stands for: named models, family detection, LoRA defaults.

A model is given as a local folder, a Hugging Face hub id, or a named model shipped with seltda
(`tiny-blip-pretrained`). `model_family` reads its config; `load_adapter`, `load_vqa` and `load_vqg`
return the family's adapter and models, so the stages never name a family.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal

import torch
from huggingface_hub import constants, try_to_load_from_cache
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from transformers import AutoConfig
from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

from seltda.core.fileio import SeltdaInputError
from seltda.models.base import ModelAdapter, missing_model

Family = Literal["blip", "vlm"]

ASSETS = Path(__file__).parent / "assets"
PRETRAINED_TINY = "tiny-blip-pretrained"
NAMED_MODELS = {PRETRAINED_TINY: ASSETS / PRETRAINED_TINY}  # shipped with the package

# BLIP: attention (self and cross) and MLP linear layers of the text encoder and the text decoder
BLIP_LORA_TARGETS = (
    r"(?:.*\.)?text_(?:encoder|decoder\.bert)\.encoder\.layer\.\d+\."
    r"(?:(?:attention|crossattention)\.(?:self\.(?:query|key|value)|output\.dense)|intermediate\.dense|output\.dense)"
)
DECODER_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]  # generic decoder VLMs (LLaVA, Qwen-VL, ...)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in constants.ENV_VARS_TRUE_VALUES


def resolve_model(name: str | os.PathLike[str]) -> str:
    """The folder or hub id to load for `name`: a named model's shipped folder, else `name` itself.

    A missing local folder, or a hub id that is not cached while `HF_HUB_OFFLINE` is set, is an input
    error saying so (instead of transformers' repo-id or connection errors).
    """
    text = str(name)
    if text in NAMED_MODELS:
        return str(NAMED_MODELS[text])
    if Path(text).exists():
        return text
    try:
        validate_repo_id(text)
    except HFValidationError:
        raise missing_model(text, f"folder not found: {Path(text)}") from None
    if _offline() and not isinstance(try_to_load_from_cache(text, constants.CONFIG_NAME), str):
        raise missing_model(text, "not in the Hugging Face cache and HF_HUB_OFFLINE is set")
    return text


def model_family(name: str) -> Family:
    """`blip` for BLIP folders, `vlm` for other image-text-to-text models; anything else is an input error."""
    folder = resolve_model(name)
    try:
        config = AutoConfig.from_pretrained(folder)
    except (OSError, ValueError) as error:
        raise missing_model(str(name), error) from error
    if config.model_type == "blip":
        return "blip"
    if config.model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        raise SeltdaInputError(
            f"model '{name}' is a '{config.model_type}' model: pass a BLIP or an image-text-to-text VLM "
            "(e.g. SmolVLM, Qwen2-VL, PaliGemma, LLaVA)"
        )
    return "vlm"


@functools.lru_cache(maxsize=8)
def parameter_count(name: str) -> int:
    """Parameters of `name`'s answering model, counted from its config alone: the model is built on the meta
    device, so no weights are read or allocated (what an unset learning rate is chosen by). Cached: a run
    asks for its base model's size once per stage config it resolves."""
    folder = resolve_model(name)
    family = model_family(name)
    config = AutoConfig.from_pretrained(folder)
    with torch.device("meta"):
        if family == "blip":
            from transformers import BlipForQuestionAnswering

            model = BlipForQuestionAnswering(config)
        else:
            from transformers import AutoModelForImageTextToText

            model = AutoModelForImageTextToText.from_config(config)
    return sum(parameter.numel() for parameter in model.parameters())


def load_adapter(name: str, max_pixels: int | None = None, **limits: int) -> ModelAdapter:
    """The adapter of `name`'s family; `limits` are token limits (max_question_tokens, ...). `max_pixels`
    caps the image size of dynamic-resolution VLMs (BLIP's processor has one fixed size: ignored)."""
    if model_family(name) == "blip":
        from seltda.models.blip import BlipAdapter

        return BlipAdapter.from_pretrained(resolve_model(name), **limits)
    from seltda.models.chat_vlm import VlmAdapter

    return VlmAdapter.from_pretrained(resolve_model(name), max_pixels=max_pixels, **limits)


def load_vqa(name: str) -> torch.nn.Module:
    """The model that answers questions (the student): BLIP's VQA model, or the VLM itself."""
    if model_family(name) == "blip":
        from seltda.models.blip import load_vqa_model

        return load_vqa_model(resolve_model(name))
    from seltda.models.chat_vlm import load_model

    return load_model(resolve_model(name))


def load_vqg(name: str) -> torch.nn.Module:
    """The model that writes question-answer pairs (the teacher): BLIP's captioner, or the VLM itself."""
    if model_family(name) == "blip":
        from seltda.models.blip import load_vqg_model

        return load_vqg_model(resolve_model(name))
    from seltda.models.chat_vlm import load_model

    return load_model(resolve_model(name))


def default_lora_targets(model: torch.nn.Module) -> str | list[str]:
    """The modules LoRA adapts by default for `model`'s family: a regular expression over BLIP's full
    module names (peft: full match), or the attention projections' name suffixes of decoder VLMs."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type == "blip":
        return BLIP_LORA_TARGETS
    if any(name.rsplit(".", 1)[-1] in DECODER_LORA_TARGETS for name, _ in model.named_modules()):
        return list(DECODER_LORA_TARGETS)
    raise SeltdaInputError(
        f"no default LoRA target modules for model type '{model_type}': set lora_targets (linear layer "
        "name suffixes, e.g. ['q_proj', 'v_proj']) in the teacher/student config"
    )
