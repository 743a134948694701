"""One prefill per image for a chat VLM's N sampled texts.

`generate(..., num_return_sequences=N)` repeats every input N times before its first forward pass: each
image runs through the vision tower N times and its prompt (hundreds of image tokens) is prefilled N
times. `prefill_once` instead runs the model once over each prompt (the vision tower once per image),
repeats the key/value cache N times along the batch, interleaved (row i*N+j is image i's sample j, the
order `num_return_sequences` gives), and hands `generate` the repeated prompt ids with that cache and no
pixels: `generate` then only processes the prompt's last token, which is text.

The cache is cut back by that last token after the full prompt's forward pass (rather than prefilling the
prompt minus its last token), so that it is exactly the cache of the repeated path even where the prompt
attends bidirectionally (PaliGemma's prefix sees its last token). Multimodal-rope models (Qwen2-VL) keep
their position offsets (`rope_deltas`) on the model after the prefill: they are repeated N times too.

Only the model types in `ONE_PREFILL_TYPES` (tested on tiny models of each family) take this path; other
model types keep the repeated one (their caches may not crop, or they keep other state from the prefill).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

ONE_PREFILL_TYPES = frozenset({"idefics3", "smolvlm", "qwen2_vl", "paligemma", "llava"})
TEXT_KEYS = ("input_ids", "attention_mask", "token_type_ids", "mm_token_type_ids")  # one value per token


def shares_prefill(model: torch.nn.Module) -> bool:
    """Whether `prefill_once` serves this model (its model type is in `ONE_PREFILL_TYPES`)."""
    return getattr(model.config, "model_type", None) in ONE_PREFILL_TYPES


def _cache_argument(model: torch.nn.Module) -> str:
    """The cache's keyword in this transformers version (`cache` from 5.2x, `past_key_values` before)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _repeat_rope_offsets(model: torch.nn.Module, num_samples: int) -> None:
    """Multimodal rope: the per-row position offsets the prefill stored on the model, repeated N times."""
    inner = getattr(model, "model", None)
    deltas = getattr(inner, "rope_deltas", None)
    if isinstance(deltas, torch.Tensor):
        inner.rope_deltas = deltas.repeat_interleave(num_samples, dim=0)


@torch.inference_mode()
def prefill_once(model: torch.nn.Module, inputs: dict[str, torch.Tensor], num_samples: int) -> dict[str, Any]:
    """`generate` inputs for `num_samples` continuations of each prompt in `inputs` (a processor's batch
    on the model's device), from one forward pass over each prompt: its per-token inputs repeated N times
    (interleaved) and the prompt's cache minus its last token, repeated likewise. Pass them to `generate`
    with `num_return_sequences=1`."""
    key = _cache_argument(model)
    forward_inputs = {name: value for name, value in inputs.items() if name != "labels"}
    output = model(**forward_inputs, use_cache=True, logits_to_keep=1)
    cache = output[key]
    cache.crop(-1)  # the last prompt token is fed again by `generate`
    cache.batch_repeat_interleave(num_samples)
    _repeat_rope_offsets(model, num_samples)
    repeated = {
        name: inputs[name].repeat_interleave(num_samples, dim=0) for name in TEXT_KEYS if name in inputs
    }
    return {**repeated, key: cache}
