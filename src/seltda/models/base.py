"""What every model family shares: the `ModelAdapter` protocol the stages use, quiet loading, the error
for a model that cannot be loaded, and the summed log-likelihood of labelled tokens (choice scoring)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import torch
from transformers import logging as hf_logging

from seltda.core.fileio import SeltdaInputError


class ModelAdapter(Protocol):
    """What the stages use: preprocessing, the two training targets, decoding and choice scoring."""

    processor: Any
    image_tokens_vary: bool  # whether an image's token count depends on its size (then batch by size)

    def prepare_images(self, images: Sequence[Any]) -> Any: ...  # one dataset item's (or a batch's) images
    def batch_images(self, items: Sequence[Any]) -> Any: ...  # a collate's batch of prepared images
    def sampling_inputs(self, images: Sequence[Any]) -> Any: ...  # a pool loader worker's share
    def sampling_inputs_on(self, inputs: Any, device: Any, dtype: torch.dtype) -> Any: ...  # the device's
    def vqa_batch(self, pixel_values: Any, questions: Sequence[str], answers=None, weights=None) -> dict: ...
    def image_features(self, model: torch.nn.Module, pixel_values: Any) -> torch.Tensor: ...  # [images, d]
    def vqa_loss(self, model: torch.nn.Module, batch: dict) -> torch.Tensor: ...
    def answer(self, model: torch.nn.Module, batch: dict) -> list[str]: ...
    def vqg_batch(self, pixel_values: Any, targets: Sequence[str]) -> dict: ...
    def vqg_loss(self, model: torch.nn.Module, batch: dict) -> torch.Tensor: ...
    def sample_questions(self, model: torch.nn.Module, pixel_values: Any, num_samples: int, **kw) -> list: ...
    def teacher_answer(  # the teacher's greedy first answer to given questions (one image each)
        self, model: torch.nn.Module, pixel_values: Any, questions: Sequence[str], max_new_tokens: int = 16
    ) -> list[str]: ...
    def choice_scores(  # per question, each choice's log-likelihood as the answer (end token included)
        self,
        model: torch.nn.Module,
        pixel_values: Any,
        questions: Sequence[str],
        choices: Sequence[Sequence[str]],
    ) -> list[list[float]]: ...


def label_log_likelihoods(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per row, the summed log-probability of its labelled tokens (labels -100 are left out): the logits at
    position t predict the label at t + 1, as in a causal language model's loss (no label smoothing)."""
    targets = labels[:, 1:].to(logits.device)
    log_probs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * (targets != -100)).sum(dim=1)


def per_question(values: Sequence[float], choices: Sequence[Sequence[str]]) -> list[list[float]]:
    """A flat list of one value per (question, choice) row, regrouped by question."""
    grouped, start = [], 0
    for question_choices in choices:
        grouped.append(list(values[start : start + len(question_choices)]))
        start += len(question_choices)
    return grouped


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """transformers' warnings silenced while loading weights (a teacher loaded from a VQA folder ignores
    the question encoder; a VLM loaded for one role leaves the other's heads unused)."""
    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)


def missing_model(name: str, reason: Exception | str) -> SeltdaInputError:
    """The input error for a model that cannot be loaded, with what to pass instead."""
    return SeltdaInputError(
        f"cannot load model '{name}': pass a local model folder (config.json, model.safetensors and the "
        f"processor files) or a Hugging Face hub id available offline or with network ({reason})"
    )
