"""What every adapter's question sampling shares: the `generate` options, the confidence score and the
grouping of the N samples drawn per image (`num_return_sequences` keeps them adjacent)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def sampling_options(
    num_samples: int,
    max_new_tokens: int,
    top_p: float,
    temperature: float,
    repetition_penalty: float,
    min_new_tokens: int,
) -> dict[str, Any]:
    """Nucleus sampling of N sequences per input, returning the raw logits for scoring."""
    return {
        "do_sample": True,
        "top_p": top_p,
        "top_k": 0,
        "temperature": temperature,
        "repetition_penalty": repetition_penalty,
        "min_new_tokens": min_new_tokens,
        "num_return_sequences": num_samples,
        "max_new_tokens": max_new_tokens,
        "return_dict_in_generate": True,
        "output_logits": True,
    }


def mean_logprob(
    generated: torch.Tensor, logits: tuple[torch.Tensor, ...], ends: Sequence[int]
) -> list[float]:
    """Mean log-probability (raw model distribution) of each generated token up to and including the end."""
    step_logits = torch.stack(logits, dim=1).float()
    logprobs = torch.log_softmax(step_logits, dim=-1).gather(-1, generated.unsqueeze(-1)).squeeze(-1)
    is_end = torch.isin(generated, torch.tensor(list(ends), device=generated.device))
    valid = ~((is_end.cumsum(dim=1) - is_end.long()) > 0)
    return ((logprobs * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1)).tolist()


def per_image(
    texts: Sequence[str], scores: Sequence[float], num_samples: int
) -> list[list[tuple[str, float]]]:
    """The (text, score) pairs grouped by image, N consecutive samples each."""
    pairs = list(zip(texts, scores, strict=True))
    return [pairs[start : start + num_samples] for start in range(0, len(pairs), num_samples)]
