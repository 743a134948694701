"""BLIP adapter: inputs, SelTDA's two training targets (VQA and question generation), and decoding.

The student is `BlipForQuestionAnswering` (vision encoder -> question encoder -> answer decoder); the
teacher is `BlipForConditionalGeneration` (vision encoder -> text decoder) that writes a question and its
answers from the image alone. Both load from any BLIP folder or hub id, the tiny default included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from transformers import BlipForConditionalGeneration, BlipForQuestionAnswering, BlipProcessor

from seltda.models.base import label_log_likelihoods, missing_model, per_question, quiet_loading
from seltda.models.sampling import NucleusSampler, per_image, sampling_options
from seltda.models.shared_image_attention import shared_image_attention
from seltda.qa_text import answer_prompt, first_answer


def _load(model_class, name: str):
    """Load a pretrained BLIP part, turning a missing model into an actionable error."""
    try:
        with quiet_loading():
            return model_class.from_pretrained(name)
    except (OSError, ValueError) as error:
        raise missing_model(name, error) from error


def load_processor(name: str) -> BlipProcessor:
    """The BLIP processor (PIL image processor + BERT tokenizer) saved with a model."""
    try:
        return BlipProcessor.from_pretrained(name)
    except (OSError, ValueError) as error:
        raise missing_model(name, error) from error


def load_vqa_model(name: str) -> BlipForQuestionAnswering:
    return mask_question_padding(_load(BlipForQuestionAnswering, name))


def _cross_attention_mask(module: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """The mask a decoder layer hands its cross-attention, passed where the attention reads it."""
    if kwargs.get("encoder_attention_mask") is None and kwargs.get("encoder_hidden_states") is not None:
        kwargs["encoder_attention_mask"] = kwargs.get("attention_mask")
    return args, kwargs


def mask_question_padding(model: BlipForQuestionAnswering) -> BlipForQuestionAnswering:
    """The answer decoder's cross-attention made to honour the question mask.

    In transformers 5.2x a BLIP text layer hands its cross-attention the encoder mask as `attention_mask`,
    and the attention then reads `encoder_attention_mask` (None): the answer decoder attends to question
    padding, so a question's answers and scores depend on the longest question of its batch. A pre-hook
    on each cross-attention passes the mask on (nothing changes where transformers already does)."""
    for layer in getattr(getattr(model.text_decoder.bert, "encoder", None), "layer", []):
        cross = getattr(layer, "crossattention", None)
        if cross is not None and not getattr(cross.self, "_seltda_masked", False):
            cross.self.register_forward_pre_hook(_cross_attention_mask, with_kwargs=True)
            cross.self._seltda_masked = True
    return model


def load_vqg_model(name: str) -> BlipForConditionalGeneration:
    return _load(BlipForConditionalGeneration, name)


@dataclass
class BlipAdapter:
    """Turns images and text into BLIP tensors and back."""

    processor: BlipProcessor
    max_question_tokens: int = 32
    max_answer_tokens: int = 16
    max_target_tokens: int = 48
    image_tokens_vary: bool = False  # every image is resized to the vision tower's size

    @classmethod
    def from_pretrained(cls, name: str, **kwargs) -> BlipAdapter:
        return cls(load_processor(name), **kwargs)

    @property
    def tokenizer(self):
        return self.processor.tokenizer

    def prepare_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """The model's pixel values (resized, rescaled, normalized), one row per image."""
        return self.processor.image_processor(list(images), return_tensors="pt")["pixel_values"]

    @staticmethod
    def image_features(model: torch.nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
        """One vector per image from the vision tower: its class token beside the mean of its patches (the
        features `orchestrate/probe.py` reads image attributes from)."""
        states = model.vision_model(pixel_values=pixel_values).last_hidden_state
        return torch.cat([states[:, 0], states[:, 1:].mean(dim=1)], dim=1)

    def sampling_inputs(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """What a pool loader worker prepares for `sample_questions`: the processor's resized pixels
        before rescaling and normalization (uint8, cheaper per worker than `prepare_images`);
        `sampling_inputs_on` finishes them on the model's device."""
        processor = self.processor.image_processor
        return processor(list(images), return_tensors="pt", do_rescale=False, do_normalize=False)[
            "pixel_values"
        ]

    def sampling_inputs_on(
        self, pixels: torch.Tensor, device: torch.device | str, dtype: torch.dtype
    ) -> torch.Tensor:
        """`prepare_images`' pixels from `sampling_inputs`, on `device` in `dtype`: the processor's
        rescaling and normalization as tensor ops there."""
        processor = self.processor.image_processor
        pixels = pixels.to(device).float()
        if processor.do_rescale:
            pixels = pixels * processor.rescale_factor
        if processor.do_normalize:
            mean = torch.tensor(processor.image_mean, device=pixels.device).view(-1, 1, 1)
            std = torch.tensor(processor.image_std, device=pixels.device).view(-1, 1, 1)
            pixels = (pixels - mean) / std
        return pixels.to(dtype)

    @staticmethod
    def batch_images(items: Sequence[torch.Tensor]) -> torch.Tensor:
        """A collate's pixel batch from dataset items (one prepared image each): the rows stacked."""
        return torch.stack(list(items))

    def _tokenize(self, texts: Sequence[str], max_length: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        encoded = self.tokenizer(
            list(texts), padding="longest", truncation=True, max_length=max_length, return_tensors="pt"
        )
        return encoded["input_ids"], encoded["attention_mask"]

    def _decoder_targets(self, texts: Sequence[str], max_length: int | None) -> dict[str, torch.Tensor]:
        """Decoder inputs start with BOS ([DEC]) instead of [CLS]; labels ignore padding."""
        ids, mask = self._tokenize(texts, max_length)
        ids[:, 0] = self.tokenizer.bos_token_id
        labels = ids.masked_fill(mask == 0, -100)
        return {"decoder_input_ids": ids, "decoder_attention_mask": mask, "labels": labels}

    # ---- VQA (student) -------------------------------------------------------------------------
    def vqa_batch(
        self,
        pixel_values: torch.Tensor,
        questions: Sequence[str],
        answers: Sequence[Sequence[str]] | None = None,
        weights: Sequence[Sequence[float]] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Question batch; with answers, one decoder row per (question, distinct answer) and its weight."""
        input_ids, attention_mask = self._tokenize(questions, self.max_question_tokens)
        batch = {"pixel_values": pixel_values, "input_ids": input_ids, "attention_mask": attention_mask}
        if answers is None:
            return batch
        rows, index, row_weights = [], [], []
        for i, answer_list in enumerate(answers):
            answer_weights = (
                weights[i] if weights is not None else [1.0 / len(answer_list)] * len(answer_list)
            )
            for answer, weight in zip(answer_list, answer_weights, strict=True):
                rows.append(answer)
                index.append(i)
                row_weights.append(weight)
        batch.update(self._decoder_targets(rows, self.max_answer_tokens))
        batch["answer_index"] = torch.tensor(index, dtype=torch.long)
        batch["answer_weight"] = torch.tensor(row_weights, dtype=torch.float)
        return batch

    @staticmethod
    def encode_questions(model: BlipForQuestionAnswering, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        image_embeds = model.vision_model(pixel_values=batch["pixel_values"]).last_hidden_state
        image_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device)
        return model.text_encoder(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            encoder_hidden_states=image_embeds,
            encoder_attention_mask=image_mask,
        ).last_hidden_state

    def vqa_loss(self, model: BlipForQuestionAnswering, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Soft-target VQA loss as in BLIP: answer log-likelihoods weighted by annotator share."""
        question_states = self.encode_questions(model, batch)
        index = batch["answer_index"]
        output = model.text_decoder(
            input_ids=batch["decoder_input_ids"],
            attention_mask=batch["decoder_attention_mask"],
            encoder_hidden_states=question_states[index],
            encoder_attention_mask=batch["attention_mask"][index],
            labels=batch["labels"],
            reduction="none",
        )
        return (batch["answer_weight"] * output.loss).sum() / batch["input_ids"].shape[0]

    @torch.inference_mode()
    def answer(self, model: BlipForQuestionAnswering, batch: dict[str, torch.Tensor]) -> list[str]:
        """Greedy answers; the question padding is masked (transformers' own `generate` attends to it)."""
        question_states = self.encode_questions(model, batch)
        start = torch.full(
            (question_states.shape[0], 1), self.tokenizer.bos_token_id, device=question_states.device
        )
        output = model.text_decoder.generate(
            input_ids=start,
            encoder_hidden_states=question_states,
            encoder_attention_mask=batch["attention_mask"],
            eos_token_id=self.tokenizer.sep_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
            max_new_tokens=self.max_answer_tokens,
            do_sample=False,
            num_beams=1,
        )
        return [text.strip() for text in self.tokenizer.batch_decode(output, skip_special_tokens=True)]

    @torch.inference_mode()
    def choice_scores(
        self,
        model: BlipForQuestionAnswering,
        pixel_values: torch.Tensor,
        questions: Sequence[str],
        choices: Sequence[Sequence[str]],
    ) -> list[list[float]]:
        """Per question, each choice's log-likelihood as the answer: the sum over its decoder tokens up to
        and including [SEP], as BLIP's `rank_answer` ranks candidates (without its label smoothing).

        Each image and question is encoded once; the choices' decoder rows attend to the repeated question
        states with the question mask. Choices are not cut at `max_answer_tokens`."""
        device = pixel_values.device
        batch = {key: value.to(device) for key, value in self.vqa_batch(pixel_values, questions).items()}
        question_states = self.encode_questions(model, batch)
        index = torch.tensor([i for i, row in enumerate(choices) for _ in row], device=device)
        targets = self._decoder_targets([choice for row in choices for choice in row], None)
        logits = model.text_decoder(
            input_ids=targets["decoder_input_ids"].to(device),
            attention_mask=targets["decoder_attention_mask"].to(device),
            encoder_hidden_states=question_states[index],
            encoder_attention_mask=batch["attention_mask"][index],
        ).logits
        return per_question(label_log_likelihoods(logits, targets["labels"]).tolist(), choices)

    # ---- question generation (teacher) ---------------------------------------------------------
    def vqg_batch(self, pixel_values: torch.Tensor, targets: Sequence[str]) -> dict[str, torch.Tensor]:
        batch = self._decoder_targets(targets, self.max_target_tokens)
        return {
            "pixel_values": pixel_values,
            "input_ids": batch["decoder_input_ids"],
            "attention_mask": batch["decoder_attention_mask"],
            "labels": batch["labels"],
        }

    @staticmethod
    def vqg_loss(model: BlipForConditionalGeneration, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return model(**batch).loss

    @torch.inference_mode()
    def teacher_answer(
        self,
        model: BlipForConditionalGeneration,
        pixel_values: torch.Tensor,
        questions: Sequence[str],
        max_new_tokens: int = 16,
    ) -> list[str]:
        """The teacher's greedy first answer to each given question: the text decoder continues
        `Question: <q> Answer:` (one image row per question).

        Rows are left-padded; `generate` derives each row's positions from the mask, and BLIP's
        `generate` puts BOS in column 0 and drops the last column ([SEP] in every left-padded row), so the
        BOS that starts each row is set here."""
        encoded = self.tokenizer(
            [answer_prompt(q) for q in questions], padding="longest", padding_side="left", return_tensors="pt"
        )
        ids = encoded["input_ids"]
        ids = torch.where(ids == self.tokenizer.cls_token_id, self.tokenizer.bos_token_id, ids)
        output = model.generate(
            pixel_values=pixel_values,
            input_ids=ids.to(pixel_values.device),
            attention_mask=encoded["attention_mask"].to(pixel_values.device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
        )
        new = self.tokenizer.batch_decode(output[:, ids.shape[1] - 1 :], skip_special_tokens=True)
        return [first_answer(q, text) for q, text in zip(questions, new, strict=True)]

    @torch.inference_mode()
    def sample_questions(
        self,
        model: BlipForConditionalGeneration,
        pixel_values: torch.Tensor,
        num_samples: int,
        top_p: float = 0.9,
        temperature: float = 1.0,
        repetition_penalty: float = 1.0,
        min_new_tokens: int = 0,
    ) -> list[list[tuple[str, float]]]:
        """N sampled `question: ... answer: ...` texts per image, each with its mean token log-probability.

        Each image is encoded once, and its N rows of the text decoder attend to that one encoding
        (`shared_image_attention`; BLIP's `generate` would repeat it N times); `NucleusSampler` draws.
        """
        text_config = model.config.text_config
        image_embeds = model.vision_model(pixel_values=pixel_values).last_hidden_state
        rows = image_embeds.shape[0] * num_samples
        start = torch.full((rows, 1), text_config.bos_token_id, dtype=torch.long, device=image_embeds.device)
        sampler = NucleusSampler(
            [text_config.sep_token_id], top_p, temperature, repetition_penalty, min_new_tokens
        )
        with shared_image_attention(model.text_decoder) as shared:
            if not shared:
                image_embeds = image_embeds.repeat_interleave(num_samples, dim=0)
            image_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device)
            sequences = model.text_decoder.generate(
                input_ids=start,
                encoder_hidden_states=image_embeds,
                encoder_attention_mask=image_mask,
                eos_token_id=text_config.sep_token_id,
                pad_token_id=text_config.pad_token_id,
                **sampling_options(sampler, self.max_target_tokens),
            )
        generated = sequences[:, start.shape[1] :]
        texts = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
        return per_image(texts, sampler.mean_logprobs(generated), num_samples)
