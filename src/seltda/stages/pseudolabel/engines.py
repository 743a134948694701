"""Which engine samples the teacher's texts: transformers (`hf`, every family) or vLLM (`vllm`, the chat
VLM families of `VLLM_FAMILIES`), and `auto`: vLLM when it is installed and serves the teacher's family.

An engine turns a batch of pool images into N `(text, mean token log-probability)` samples per image;
the shard code (`shard.py`) parses, filters and writes them the same way whichever engine drew them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch

from seltda.models import ModelAdapter
from seltda.models.vllm_llm import VLLM_FAMILIES, choose_engine  # noqa: F401 (re-exported)
from seltda.stages.pseudolabel.config import PseudoLabelConfig


class Engine(Protocol):
    """What a shard needs from an engine."""

    name: str
    adapter: ModelAdapter  # the teacher's adapter (prompt, image preparation, `image_tokens_vary`)

    @property
    def dtype(self) -> str: ...  # the weights' dtype, as the shard stats record it

    def prepare(self, images: list[Any]) -> Any: ...  # a pool loader worker's share of a batch

    def sample(self, names: list[str], inputs: Any, cfg: PseudoLabelConfig, seed: int) -> list[list]: ...


def sample_batch(model: Any, adapter: ModelAdapter, inputs: Any, cfg: PseudoLabelConfig) -> list:
    """The teacher's samples for one batch's sampling inputs, moved to the model's device and dtype (the
    work of a shard, and of the CPU precision probe)."""
    parameter = next(model.parameters())
    return adapter.sample_questions(
        model,
        adapter.sampling_inputs_on(inputs, parameter.device, parameter.dtype),
        cfg.per_image,
        top_p=cfg.top_p,
        temperature=cfg.temperature,
        repetition_penalty=cfg.repetition_penalty,
        min_new_tokens=cfg.min_new_tokens,
    )


@dataclass
class HfEngine:
    """transformers: the adapter's `sample_questions` (one prefill per image where the family allows);
    the shard seeds torch's generator, which `seed` stands for here."""

    model: torch.nn.Module
    adapter: ModelAdapter
    name: str = "hf"

    @property
    def dtype(self) -> str:
        return str(next(self.model.parameters()).dtype).removeprefix("torch.")

    def prepare(self, images: list[Any]) -> Any:
        return self.adapter.sampling_inputs(images)

    def sample(
        self, names: list[str], inputs: Any, cfg: PseudoLabelConfig, seed: int
    ) -> list[list[tuple[str, float]]]:
        return sample_batch(self.model, self.adapter, inputs, cfg)
