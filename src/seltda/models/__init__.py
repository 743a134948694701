"""Model families behind one adapter interface: BLIP, or any Hugging Face image-text-to-text chat VLM.

`base` holds the `ModelAdapter` protocol and quiet loading; `registry` turns a model name (folder, hub
id or named model) into its family's adapter and models.
"""

from seltda.models.base import ModelAdapter, missing_model, quiet_loading
from seltda.models.registry import (
    NAMED_MODELS,
    Family,
    default_lora_targets,
    load_adapter,
    load_vqa,
    load_vqg,
    model_family,
    resolve_model,
)

__all__ = [
    "NAMED_MODELS",
    "Family",
    "ModelAdapter",
    "default_lora_targets",
    "load_adapter",
    "load_vqa",
    "load_vqg",
    "missing_model",
    "model_family",
    "quiet_loading",
    "resolve_model",
]
