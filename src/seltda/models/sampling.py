"""What every adapter's question sampling shares: nucleus sampling with a score per sample, and the
grouping of the N samples drawn per image.

transformers' own sampling sorts the whole vocabulary for top-p, then draws with `multinomial` (one
exponential variate per vocabulary entry), and scoring needs every step's logits kept
(`output_logits`: rows x vocabulary x steps). `NucleusSampler` is a logits processor that draws from
the same nucleus distribution with one uniform per row (inverse CDF over the top candidates, a full
sort only when the nucleus is wider) and records only the drawn token's log-probability; it returns
scores on which `generate` can only pick the drawn token (compared with `do_sample=True` in
docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList
from transformers.generation.logits_process import (
    MinNewTokensLengthLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
)


def nucleus_draw(probs: torch.Tensor, top_p: float, candidates: int = 64) -> torch.Tensor:
    """One token per row from the smallest top set whose mass reaches `top_p` (as transformers'
    `TopPLogitsWarper`: a token is kept while the mass ranked above it is below `top_p`), renormalized;
    `top_p >= 1` draws from the whole distribution."""
    index = None
    if top_p >= 1:
        kept = probs
    else:
        kept, index = probs.topk(min(candidates, probs.shape[-1]), dim=-1)
        if bool((kept.sum(-1) < top_p).any()):  # some nucleus is wider than the candidates
            kept, index = probs.sort(dim=-1, descending=True)
        kept = kept.masked_fill(kept.cumsum(-1) - kept >= top_p, 0.0)
    cdf = kept.cumsum(-1)
    threshold = torch.rand(probs.shape[0], 1, device=probs.device, dtype=cdf.dtype) * cdf[:, -1:]
    last_positive = (kept > 0).long().cumsum(-1).argmax(-1, keepdim=True)  # where rounding may land past
    position = torch.minimum((cdf <= threshold).sum(-1, keepdim=True), last_positive)
    return (position if index is None else index.gather(-1, position)).squeeze(-1)


class NucleusSampler(LogitsProcessor):
    """Nucleus sampling inside `generate`, scoring each draw under the model's distribution.

    Each step: the raw log-probability of the drawn token is recorded; repetition penalty, minimum
    length (transformers' processors) and temperature shape the distribution; `nucleus_draw` picks the
    token; the returned scores are -inf everywhere else, so greedy decoding (or sampling) keeps it.
    """

    def __init__(
        self,
        end_ids: Sequence[int],
        top_p: float = 0.9,
        temperature: float = 1.0,
        repetition_penalty: float = 1.0,
        min_new_tokens: int = 0,
        prompt_padding: torch.Tensor | None = None,
        candidates: int = 64,
    ) -> None:
        """`prompt_padding`: each row's count of left-padding tokens, which the repetition penalty skips."""
        if temperature <= 0 or not 0 < top_p <= 1:
            raise ValueError(f"need temperature > 0 and 0 < top_p <= 1, got {temperature} and {top_p}")
        self.end_ids = list(end_ids)
        self.top_p, self.temperature, self.candidates = top_p, temperature, candidates
        self.repetition_penalty, self.min_new_tokens = repetition_penalty, min_new_tokens
        self.prompt_padding = prompt_padding
        self.prompt_length: int | None = None
        self.shapers = LogitsProcessorList()
        self.steps: list[torch.Tensor] = []

    def _start(self, input_ids: torch.Tensor) -> None:
        """The first call sees the prompt: the minimum length counts from its end."""
        self.prompt_length = input_ids.shape[1]
        if self.repetition_penalty != 1.0:
            self.shapers.append(
                RepetitionPenaltyLogitsProcessor(self.repetition_penalty, self.prompt_padding)
            )
        if self.min_new_tokens > 0 and self.end_ids:
            self.shapers.append(
                MinNewTokensLengthLogitsProcessor(
                    self.prompt_length, self.min_new_tokens, self.end_ids, device=input_ids.device
                )
            )

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.prompt_length is None:
            self._start(input_ids)
        logprobs = scores.float().log_softmax(-1)
        shaped = self.shapers(input_ids, scores.float()) / self.temperature
        token = nucleus_draw(shaped.softmax(-1), self.top_p, self.candidates)
        self.steps.append(logprobs.gather(-1, token[:, None]).squeeze(-1))
        return torch.full_like(scores, float("-inf")).scatter_(-1, token[:, None], 0.0)

    def mean_logprobs(self, generated: torch.Tensor) -> list[float]:
        """Mean log-probability of each generated row's tokens up to and including its first end."""
        if not self.steps:
            return [0.0] * generated.shape[0]
        logprobs = torch.stack(self.steps, dim=1)[:, : generated.shape[1]].to(generated.device)
        generated = generated[:, : logprobs.shape[1]]
        is_end = torch.isin(generated, torch.tensor(self.end_ids, device=generated.device))
        valid = ~((is_end.cumsum(dim=1) - is_end.long()) > 0)
        return ((logprobs * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1)).tolist()


def sampling_options(sampler: NucleusSampler, max_new_tokens: int, num_samples: int = 1) -> dict[str, Any]:
    """`generate` options that leave every choice to `sampler`. N > 1 samples per input need
    `num_return_sequences`, which transformers allows only when sampling: its draw from the sampler's
    one-hot scores then always returns the sampler's token."""
    options = {"repetition_penalty": 1.0, "min_new_tokens": 0}  # the sampler applies the configured ones
    if num_samples > 1:  # no sampling step of transformers' own may change the distribution
        options.update(top_p=1.0, top_k=0, temperature=1.0)
    return {
        **options,
        "do_sample": num_samples > 1,
        "num_beams": 1,
        "num_return_sequences": num_samples,
        "max_new_tokens": max_new_tokens,
        "logits_processor": LogitsProcessorList([sampler]),
    }


def per_image(
    texts: Sequence[str], scores: Sequence[float], num_samples: int
) -> list[list[tuple[str, float]]]:
    """The (text, score) pairs grouped by image, N consecutive samples each."""
    pairs = list(zip(texts, scores, strict=True))
    return [pairs[start : start + num_samples] for start in range(0, len(pairs), num_samples)]
