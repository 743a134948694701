"""Adapter for chat VLMs (`AutoModelForImageTextToText`: SmolVLM/Idefics3, Qwen2-VL, LLaVA, PaliGemma...).

One model serves both roles: the student answers `image + question`, the teacher writes
`Question: ... Answer: ...` for `image + instruction`. Prompts go through the processor's chat template
(user turn = image + text, assistant turn = target); the loss covers the assistant turn only. Processors
without a chat template but with PaliGemma's `suffix` argument use prompt + suffix instead.

Images are encoded together with the text (the image token count depends on the processor), so
`prepare_images` returns PIL images (converted and downscaled); `ImageBatch` stands in for a pixel
tensor in the stage code.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from seltda.core.fileio import SeltdaInputError
from seltda.core.records import majority
from seltda.models.base import label_log_likelihoods, per_question
from seltda.models.chat_io import (  # noqa: F401 (ImageBatch, load_model: re-exported)
    ImageBatch,
    PromptBatch,
    _common_prefix,
    _fit,
    _on_device,
    _takes_suffix,
    _to_model,
    load_model,
    load_processor,
)
from seltda.models.chat_sampling import prefill_once, shares_prefill
from seltda.models.sampling import NucleusSampler, per_image, sampling_options
from seltda.qa_text import answer_prompt, first_answer

VQG_INSTRUCTION = "Ask one question about this image and answer it, as: Question: <question> Answer: <answer>"
PALIGEMMA_VQA_PREFIX = "answer en "


@dataclass
class VlmAdapter:
    """Turns images and text into chat-VLM inputs and generations back into text."""

    processor: Any
    max_question_tokens: int = 32
    max_answer_tokens: int = 16
    max_target_tokens: int = 48
    max_pixels: int | None = None  # downscale larger images (dynamic-resolution models: fewer image tokens)
    image_tokens_vary: bool = True  # dynamic resolution: a batch pads every image to its largest one
    one_prefill: bool = True  # N samples from one prefill per image (models/chat_sampling.py) where supported
    vqg_instruction: str = VQG_INSTRUCTION
    chat: bool = field(init=False)
    end_of_turn: int | None = field(init=False)
    closing: str = field(init=False)

    def __post_init__(self) -> None:
        self.chat = bool(getattr(self.processor, "chat_template", None))
        if not self.chat and not _takes_suffix(self.processor):
            raise SeltdaInputError(
                f"{type(self.processor).__name__} has no chat template: save one with the model's processor"
            )
        self.tokenizer.padding_side = "left"  # answers end every row; generation continues each prompt
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.end_of_turn = self._end_of_turn()
        # no end-of-turn token in the template (llava-1.5's): EOS after the target teaches the model to stop
        self.closing = self.tokenizer.eos_token if self.chat and self.end_of_turn is None else ""

    @classmethod
    def from_pretrained(cls, name: str, **kwargs: Any) -> VlmAdapter:
        return cls(load_processor(name), **kwargs)

    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer

    def prepare_images(self, images: Sequence[Image.Image]) -> ImageBatch:
        """RGB images, each downscaled (aspect kept) to at most `max_pixels` pixels when set (the processor
        encodes them with the text, in `vqa_batch`/`vqg_batch`)."""
        return ImageBatch(_fit(image.convert("RGB"), self.max_pixels) for image in images)

    def image_features(self, model: torch.nn.Module, pixel_values: ImageBatch) -> torch.Tensor:
        """One vector per image: the mean of the image tokens the model hands its language model (the
        projector's output, `get_image_features`), the features `orchestrate/probe.py` reads image
        attributes from. A batch whose tokens cannot be told apart per image is read one image at a time.
        Raises NotImplementedError for a model that does not expose its image tokens."""
        if not hasattr(model, "get_image_features"):
            raise NotImplementedError(f"{type(model).__name__} has no get_image_features to read images with")
        images = list(pixel_values)
        pooled = self._pooled_image_tokens(model, images)
        if pooled is None:
            pooled = torch.cat([self._pooled_image_tokens(model, [image]) for image in images])
        return pooled

    def _pooled_image_tokens(self, model: torch.nn.Module, images: list[Image.Image]) -> torch.Tensor | None:
        """The mean image token per image, or None when the output does not split into one per image."""
        inputs = self.processor.image_processor(images, return_tensors="pt")
        pixels = inputs.get("pixel_values")
        if pixels is not None and pixels.dim() == 5 and len(pixels) != len(images):
            # Idefics3/SmolVLM: a flat list is one sample's images; one sample per image instead
            inputs = self.processor.image_processor([[image] for image in images], return_tensors="pt")
        takes = inspect.signature(model.get_image_features).parameters
        inputs = _to_model(model, {k: v for k, v in inputs.items() if k in takes})
        out = model.get_image_features(**inputs)
        tokens = getattr(out, "pooler_output", out)
        if tokens is None:
            raise NotImplementedError(f"{type(model).__name__}.get_image_features returns no image tokens")
        if isinstance(tokens, torch.Tensor):
            tokens = list(tokens) if tokens.dim() == 3 and len(tokens) == len(images) else [tokens]
        if len(tokens) != len(images):
            return None
        return torch.stack([t.reshape(-1, t.shape[-1]).float().mean(dim=0) for t in tokens])

    def sampling_inputs(self, images: Sequence[Image.Image]) -> PromptBatch:
        """What a pool loader worker prepares for `sample_questions`: the processed question-generation
        prompt of every image (the processor's work, in the worker process)."""
        fitted = self.prepare_images(images)
        return PromptBatch(self._batch(fitted, [self.vqg_instruction] * len(fitted)))

    @staticmethod
    def sampling_inputs_on(
        inputs: PromptBatch, device: torch.device | str, dtype: torch.dtype
    ) -> PromptBatch:
        """The prepared inputs on the model's device, float ones (pixels) in its dtype."""
        return PromptBatch(_on_device(inputs, device, dtype))

    @staticmethod
    def batch_images(items: Sequence[Image.Image]) -> ImageBatch:
        """A collate's batch from dataset items (one prepared image each): the images in a list, as the
        processor takes them (BLIP stacks pixel tensors here)."""
        return ImageBatch(items)

    # ---- prompts -------------------------------------------------------------------------------
    def _clip(self, text: str, max_tokens: int) -> str:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return text if len(ids) <= max_tokens else self.tokenizer.decode(ids[:max_tokens]).strip()

    @staticmethod
    def _messages(prompt: str, target: str | None = None) -> list[dict]:
        """User turn = image + text; assistant turn = the target."""
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        if target is not None:
            messages.append({"role": "assistant", "content": [{"type": "text", "text": target}]})
        return messages

    def _render(self, prompt: str, target: str | None = None) -> tuple[str, str]:
        """(prompt text ending with the assistant's turn opening, full text with the target), un-encoded."""
        template = self.processor.apply_chat_template
        opening = template(self._messages(prompt), add_generation_prompt=True, tokenize=False)
        if target is None:
            return opening, opening
        return opening, template(self._messages(prompt, target), tokenize=False) + self.closing

    def _tail_length(self, opening: str, full: str) -> int:
        """Tokens of `full` after the assistant's turn opening (its answer and end-of-turn marker)."""
        opening_ids = self.tokenizer(opening)["input_ids"]
        full_ids = self.tokenizer(full)["input_ids"]
        return len(full_ids) - _common_prefix(opening_ids, full_ids)

    def _encode(self, images: Sequence[Image.Image], texts: Sequence[str], **kwargs: Any) -> dict:
        encoded = self.processor(
            images=list(images), text=list(texts), padding="longest", return_tensors="pt", **kwargs
        )
        return {key: value for key, value in encoded.items() if isinstance(value, torch.Tensor)}

    def _batch(
        self, images: Sequence[Image.Image], prompts: Sequence[str], targets: Sequence[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Model inputs for `prompts`; with `targets`, labels that cover the targets only."""
        if not self.chat:
            return self._prefix_batch(images, prompts, targets)
        rendered = [
            self._render(p, t) for p, t in zip(prompts, targets or [None] * len(prompts), strict=True)
        ]
        batch = self._encode(images, [full for _, full in rendered])
        if targets is not None:
            batch["labels"] = self._labels(
                batch["input_ids"], [self._tail_length(*pair) for pair in rendered]
            )
        return batch

    def prompt_text(self, prompt: str) -> str:
        """The text the processor encodes with an image for `prompt`, un-encoded: the chat template's user
        turn and the assistant's turn opening, or PaliGemma's `<image>prompt`."""
        return self._render(prompt)[0] if self.chat else f"{self.processor.image_token}{prompt}"

    def _prefix_batch(
        self, images: Sequence[Image.Image], prompts: Sequence[str], targets: Sequence[str] | None
    ) -> dict[str, torch.Tensor]:
        """PaliGemma: `<image>prompt`, the target as `suffix` (the processor then builds the labels)."""
        texts = [self.prompt_text(prompt) for prompt in prompts]
        return self._encode(images, texts, **({} if targets is None else {"suffix": list(targets)}))

    @staticmethod
    def _labels(input_ids: torch.Tensor, tail_lengths: Sequence[int]) -> torch.Tensor:
        """Left-padded rows end with their target: label the last `tail_lengths[i]` tokens only."""
        positions = torch.arange(input_ids.shape[1]).expand_as(input_ids)
        starts = input_ids.shape[1] - torch.tensor(tail_lengths).unsqueeze(1)
        return input_ids.masked_fill(positions < starts, -100)

    # ---- VQA (student) -------------------------------------------------------------------------
    def vqa_prompt(self, question: str) -> str:
        """The user turn's text for a question (clipped; PaliGemma's task prefix before it)."""
        return ("" if self.chat else PALIGEMMA_VQA_PREFIX) + self._clip(question, self.max_question_tokens)

    def vqa_batch(
        self,
        pixel_values: Sequence[Image.Image],
        questions: Sequence[str],
        answers: Sequence[Sequence[str]] | None = None,
        weights: Sequence[Sequence[float]] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Question prompts; with answers, the majority answer of each question is the target."""
        prompts = [self.vqa_prompt(q) for q in questions]
        if answers is None:
            return self._batch(pixel_values, prompts)
        targets = [
            self._clip(majority(a, weights[i] if weights is not None else None), self.max_answer_tokens)
            for i, a in enumerate(answers)
        ]
        return self._batch(pixel_values, prompts, targets)

    @staticmethod
    def vqa_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return model(**batch).loss

    @torch.inference_mode()
    def answer(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> list[str]:
        """Greedy answers: the new tokens only."""
        inputs = _to_model(model, batch)
        output = model.generate(
            **inputs,
            **self._stops(model),
            do_sample=False,
            num_beams=1,
            max_new_tokens=self.max_answer_tokens,
        )
        new = output[:, inputs["input_ids"].shape[1] :]
        return [text.strip() for text in self.tokenizer.batch_decode(new, skip_special_tokens=True)]

    @torch.inference_mode()
    def choice_scores(
        self,
        model: torch.nn.Module,
        pixel_values: Sequence[Image.Image],
        questions: Sequence[str],
        choices: Sequence[Sequence[str]],
    ) -> list[list[float]]:
        """Per question, each choice's log-likelihood as the answer: the sum over the assistant turn's
        tokens up to and including its end (the end-of-turn token, or EOS: llava-1.5, PaliGemma's suffix).

        One row per (question, choice), rendered as in training (user turn = image + question, assistant
        turn = the choice, not cut at `max_answer_tokens`); rows are left-padded, so every choice ends its
        row and the logits are computed for the last positions only (`logits_to_keep`)."""
        images = [image for image, row in zip(pixel_values, choices, strict=True) for _ in row]
        prompts = [
            self.vqa_prompt(question) for question, row in zip(questions, choices, strict=True) for _ in row
        ]
        batch = self._batch(images, prompts, [choice for row in choices for choice in row])
        labels = self._through_end_of_turn(batch.pop("labels"))
        first = (labels != -100).int().argmax(dim=1)  # each row's first choice token
        keep = labels.shape[1] - int(first.min()) + 1  # its prediction starts one position earlier
        logits = model(**_to_model(model, batch), logits_to_keep=keep).logits
        return per_question(label_log_likelihoods(logits, labels[:, -keep:]).tolist(), choices)

    def _through_end_of_turn(self, labels: torch.Tensor) -> torch.Tensor:
        """Labels after each row's first end-of-turn token (the template's newline after it) left out."""
        if self.end_of_turn is None:
            return labels
        ends = (labels == self.end_of_turn).int()
        return labels.masked_fill(ends.cumsum(dim=1) - ends > 0, -100)

    # ---- question generation (teacher) ---------------------------------------------------------
    def vqg_batch(
        self, pixel_values: Sequence[Image.Image], targets: Sequence[str]
    ) -> dict[str, torch.Tensor]:
        clipped = [self._clip(t, self.max_target_tokens) for t in targets]
        return self._batch(pixel_values, [self.vqg_instruction] * len(clipped), clipped)

    @staticmethod
    def vqg_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return model(**batch).loss

    def _prefilled_batch(self, images: Sequence[Image.Image], prefills: Sequence[str]) -> dict:
        """Question-generation inputs whose assistant turn starts with `prefills`: the training rendering
        (`vqg_batch`'s) cut after each prefill (chat), or the prefill as PaliGemma's suffix minus its EOS."""
        if not self.chat:
            batch = self._prefix_batch(images, [self.vqg_instruction] * len(prefills), prefills)
            batch.pop("labels", None)
            text_keys = ("input_ids", "attention_mask", "token_type_ids")  # left-padded: EOS ends every row
            return {key: value[:, :-1] if key in text_keys else value for key, value in batch.items()}
        texts = []
        for prefill in prefills:
            _, full = self._render(self.vqg_instruction, prefill)
            texts.append(full[: full.rindex(prefill) + len(prefill)])
        return self._encode(images, texts)

    @torch.inference_mode()
    def teacher_answer(
        self,
        model: torch.nn.Module,
        pixel_values: Sequence[Image.Image],
        questions: Sequence[str],
        max_new_tokens: int = 16,
    ) -> list[str]:
        """The teacher's greedy first answer to each given question: its assistant turn, pre-filled with
        `Question: <q> Answer:`, continued (one image per question)."""
        inputs = _to_model(model, self._prefilled_batch(pixel_values, [answer_prompt(q) for q in questions]))
        output = model.generate(
            **inputs, **self._stops(model), do_sample=False, num_beams=1, max_new_tokens=max_new_tokens
        )
        new = self.tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        return [first_answer(q, text) for q, text in zip(questions, new, strict=True)]

    @torch.inference_mode()
    def sample_questions(
        self,
        model: torch.nn.Module,
        pixel_values: Sequence[Image.Image] | PromptBatch,
        num_samples: int,
        top_p: float = 0.9,
        temperature: float = 1.0,
        repetition_penalty: float = 1.0,
        min_new_tokens: int = 0,
    ) -> list[list[tuple[str, float]]]:
        """N sampled `Question: ... Answer: ...` texts per image, each with its mean token log-probability.

        Takes the images, or their `sampling_inputs` prepared by a loader worker. Each image is encoded and
        its prompt prefilled once, its cache repeated for the N samples (`one_prefill`, on the model types
        of `chat_sampling.ONE_PREFILL_TYPES`); otherwise `generate` repeats the inputs N times."""
        if not isinstance(pixel_values, PromptBatch):
            pixel_values = self.sampling_inputs(pixel_values)
        inputs = _to_model(model, pixel_values)
        stops = self._stops(model)
        mask = inputs.get("attention_mask")
        padding = None if mask is None else (mask != 0).int().argmax(dim=1)  # each prompt's left padding
        sampler = NucleusSampler(
            stops["eos_token_id"],
            top_p,
            temperature,
            repetition_penalty,
            min_new_tokens,
            prompt_padding=None if padding is None else padding.repeat_interleave(num_samples),
        )
        options = sampling_options(sampler, self.max_target_tokens, num_samples)
        if num_samples > 1 and self.one_prefill and shares_prefill(model):
            inputs = prefill_once(model, inputs, num_samples)  # rows: image i's sample j at i*N+j
            options["num_return_sequences"] = 1  # sampling kept on: the same random draws as repeated rows
        sequences = model.generate(**inputs, **stops, **options)
        new = sequences[:, inputs["input_ids"].shape[1] :]
        texts = [text.strip() for text in self.tokenizer.batch_decode(new, skip_special_tokens=True)]
        return per_image(texts, sampler.mean_logprobs(new), num_samples)

    def end_ids(self, generation_config: Any) -> list[int]:
        """The ids that end a generation: the model's EOS (its generation config's), the tokenizer's and
        the chat template's end-of-turn token."""
        configured = generation_config.eos_token_id
        ends = set(configured if isinstance(configured, list) else [configured])
        ends.update([self.tokenizer.eos_token_id, self.end_of_turn])
        ends.discard(None)
        return sorted(ends)

    def _stops(self, model: torch.nn.Module) -> dict[str, Any]:
        """End and padding ids for `generate` (`end_ids`; padding: the tokenizer's, else an end id)."""
        ends = self.end_ids(model.generation_config)
        pad = self.tokenizer.pad_token_id
        return {"eos_token_id": ends, "pad_token_id": pad if pad is not None else min(ends)}

    def _end_of_turn(self) -> int | None:
        """The first token after the assistant's text in the chat template, when it is a special token."""
        if not self.chat:
            return None
        marker = "xyzzy"
        full = self.processor.apply_chat_template(self._messages("q", marker), tokenize=False)
        ids = self.tokenizer(full[full.rindex(marker) + len(marker) :], add_special_tokens=False)["input_ids"]
        return ids[0] if ids and ids[0] in self.tokenizer.all_special_ids else None
