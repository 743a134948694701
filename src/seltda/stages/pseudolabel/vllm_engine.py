"""The vLLM engine: the teacher's N samples per image from vLLM's batched generation, scored and decoded as
the transformers path scores and decodes them (`models/sampling.py`, `models/chat_vlm.py`).

- The prompt is the one the teacher was trained with: the adapter's question-generation prompt through
  the teacher's own processor (its chat template, or PaliGemma's `<image>prompt`), the image as
  `multi_modal_data`; vLLM's processor for the family expands the image tokens.
- Images are prepared by the adapter (`prepare_images`: RGB, downscaled to `max_pixels`), so the processor
  sees the images the transformers path gives it.
- A sample's score is the mean raw log-probability (before penalty, temperature and top-p:
  `logprobs_mode="raw_logprobs"`) of its tokens up to and including the end token; vLLM stops at the
  first end id (the adapter's: the model's EOS, the tokenizer's and the chat template's end of turn).
- Each image samples with its own seed, from the shard's seed and the image's name, so a resumed shard
  draws what an uninterrupted run draws (vLLM's streams, not torch's: the two engines' samples differ).

The `LLM` itself (CPU settings, dtypes) is `models/vllm_llm.py`'s, shared with evaluation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import torch

from seltda.models import resolve_model
from seltda.models.chat_vlm import VlmAdapter
from seltda.models.vllm_llm import VLLM_DTYPES, generation_config, load_llm
from seltda.stages.pseudolabel.config import PseudoLabelConfig


def image_seed(shard_seed: int, name: str) -> int:
    """An image's sampling seed: its shard's seed and its name, hashed (independent of its batch)."""
    return int.from_bytes(hashlib.sha1(f"{shard_seed}/{name}".encode()).digest()[:4], "big")


def mean_logprob(token_ids: list[int], logprobs: list[dict[int, Any]] | None) -> float:
    """Mean log-probability of the sampled tokens (vLLM stops at the first end id, which is included)."""
    if not token_ids or not logprobs:
        return 0.0
    return sum(step[token].logprob for token, step in zip(token_ids, logprobs, strict=True)) / len(token_ids)


@dataclass
class VllmEngine:
    """vLLM's `LLM` over the teacher folder, with the adapter that renders its prompt and decodes."""

    llm: Any
    adapter: VlmAdapter
    prompt: str
    end_ids: list[int]
    dtype: str
    name: str = "vllm"

    @classmethod
    def load(cls, teacher: str, cfg: PseudoLabelConfig, dtype: torch.dtype, **settings: Any) -> VllmEngine:
        folder = resolve_model(teacher)
        adapter = VlmAdapter.from_pretrained(
            folder, max_pixels=cfg.max_pixels, max_target_tokens=cfg.max_new_tokens
        )
        llm = load_llm(
            folder, dtype, seed=cfg.seed, tensor_parallel_size=cfg.tensor_parallel_size, **settings
        )
        return cls(
            llm,
            adapter,
            adapter.prompt_text(adapter.vqg_instruction),
            adapter.end_ids(generation_config(folder)),
            VLLM_DTYPES[dtype],
        )

    def prepare(self, images: list[Any]) -> list[Any]:
        """The images as the transformers path hands them to the processor."""
        return list(self.adapter.prepare_images(images))

    def sampling_params(self, cfg: PseudoLabelConfig, seed: int) -> Any:
        from vllm import SamplingParams

        return SamplingParams(
            n=cfg.per_image,
            top_p=cfg.top_p,
            temperature=cfg.temperature,
            repetition_penalty=cfg.repetition_penalty,
            min_tokens=cfg.min_new_tokens,
            max_tokens=cfg.max_new_tokens,
            stop_token_ids=self.end_ids,
            logprobs=1,  # the sampled token's (and the top token's) log-probability
            seed=seed,
            detokenize=False,  # decoded below as the transformers path decodes
        )

    def generate(self, names: list[str], images: list[Any], cfg: PseudoLabelConfig, seed: int) -> list[Any]:
        """vLLM's request outputs, one per image (N completions each)."""
        requests = [{"prompt": self.prompt, "multi_modal_data": {"image": image}} for image in images]
        params = [self.sampling_params(cfg, image_seed(seed, name)) for name in names]
        return self.llm.generate(requests, params, use_tqdm=False)

    def sample(
        self, names: list[str], inputs: list[Any], cfg: PseudoLabelConfig, seed: int
    ) -> list[list[tuple[str, float]]]:
        """N `(text, mean token log-probability)` samples per image, in vLLM's completion order."""
        samples = []
        for output in self.generate(names, inputs, cfg, seed):
            completions = sorted(output.outputs, key=lambda completion: completion.index)
            samples.append([self._scored(completion) for completion in completions])
        return samples

    def _scored(self, completion: Any) -> tuple[str, float]:
        tokens = list(completion.token_ids)
        text = self.adapter.tokenizer.decode(tokens, skip_special_tokens=True).strip()
        return text, mean_logprob(tokens, completion.logprobs)
