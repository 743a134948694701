"""Which engine samples the teacher's texts: transformers (`hf`, every family) or vLLM (`vllm`, the chat
VLM families of `VLLM_FAMILIES`), and `auto`: vLLM when it is installed and serves the teacher's family.

An engine turns a batch of pool images into N `(text, mean token log-probability)` samples per image;
the shard code (`shard.py`) parses, filters and writes them the same way whichever engine drew them.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import torch
from transformers import AutoConfig

from seltda.core.fileio import SeltdaInputError
from seltda.models import ModelAdapter, model_family, resolve_model
from seltda.stages.pseudolabel.config import EngineName, PseudoLabelConfig
from seltda.stages.pseudolabel.vllm_engine import VLLM_INSTALL  # imports vLLM only to load

# model types the vLLM engine serves: those tested on a tiny model (tests/stages/test_pseudolabel_vllm.py:
# vLLM's prompt tokens equal the transformers processor's, scores equal teacher-forced ones). Idefics3
# covers SmolVLM (v1) checkpoints. Not listed until tested: `smolvlm` (SmolVLM2), `paligemma`,
# `qwen2_vl`, `llava`, whose vLLM processors need torchvision, which has no build here beside the CPU
# torch; LLaVA folders saved by transformers 5 also name their vision tower's weights otherwise.
VLLM_FAMILIES = frozenset({"idefics3"})


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


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def model_type(name: str) -> str:
    """The teacher's `model_type` (its family must be one seltda serves: `model_family` checks it)."""
    model_family(name)
    return AutoConfig.from_pretrained(resolve_model(name)).model_type


def choose_engine(teacher: str, engine: EngineName) -> Literal["vllm", "hf"]:
    """The engine that samples for `teacher`; `vllm` where it cannot serve is an input error saying why."""
    if engine == "hf":
        return "hf"
    family = model_type(teacher)
    if engine == "auto":
        # on a CPU vLLM measured 0.66x transformers (docs/benchmarks.md): auto takes it with a GPU only
        served = family in VLLM_FAMILIES and vllm_installed()
        return "vllm" if served and torch.cuda.is_available() else "hf"
    if not vllm_installed():
        raise SeltdaInputError(f"engine 'vllm' needs vLLM, which is not installed: {VLLM_INSTALL}")
    if family not in VLLM_FAMILIES:
        raise SeltdaInputError(
            f"engine 'vllm' serves the model types {', '.join(sorted(VLLM_FAMILIES))}; teacher '{teacher}' "
            f"is a '{family}' model: use engine 'hf' (or 'auto')"
        )
    return "vllm"
