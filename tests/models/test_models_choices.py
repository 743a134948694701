"""Multiple choice by likelihood (`choice_scores`): each choice's summed log-probability as the answer, end
token included, batched; compared with one unpadded, teacher-forced row per (question, choice) scored by the
model's own loss. Tiny BLIP (conftest) and the tiny chat VLMs of test_models_vlm.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import aokvqa_layout
from PIL import Image
from test_models_vlm import chat_tokenizer, qwen2_vl_processor_class, tiny_vlm

from seltda.models import load_adapter, load_vqa
from seltda.models.blip import BlipAdapter, load_vqa_model
from seltda.models.chat_vlm import PALIGEMMA_VQA_PREFIX
from seltda.stages.evaluate import EvaluateConfig, evaluate

__all__ = ["chat_tokenizer", "tiny_vlm"]  # the session fixtures this module uses

TOLERANCE = 1e-4
QUESTIONS = ["what color is it?", "what is the shape in the middle of this picture, and its colour?"]
CHOICES = [["red", "blue", "dark green", "circle"], ["circle", "a red rectangle", "blue"]]
END_OF_TURN = {"idefics3": "<end_of_utterance>", "qwen2_vl": "<|im_end|>"}  # llava-1.5: EOS; PaliGemma: EOS


def images() -> list[Image.Image]:
    """Two images of different sizes (dynamic-resolution models pad the smaller one's image tokens)."""
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    return [Image.fromarray(noise), Image.new("RGB", (48, 24), "green")]


# ---- BLIP ----------------------------------------------------------------------------------------
def blip_reference(model, adapter: BlipAdapter, image: Image.Image, question: str, choice: str) -> float:
    """One question and one choice alone, scored by the text decoder's own loss with label smoothing off:
    the summed negative log-likelihood of `[DEC] choice [SEP]` after [DEC]."""
    tokenizer = adapter.tokenizer
    pixels = adapter.prepare_images([image])
    limit = adapter.max_question_tokens  # the adapter's documented question length
    encoded = tokenizer([question], truncation=True, max_length=limit, return_tensors="pt")
    states = adapter.encode_questions(model, {"pixel_values": pixels, **encoded})
    ids = tokenizer([choice], return_tensors="pt")["input_ids"]
    assert ids[0, -1] == tokenizer.sep_token_id  # the end token is scored
    ids[:, 0] = tokenizer.bos_token_id
    decoder = model.text_decoder
    smoothing, decoder.label_smoothing = decoder.label_smoothing, 0.0
    try:
        output = decoder(input_ids=ids, encoder_hidden_states=states, labels=ids, reduction="none")
    finally:
        decoder.label_smoothing = smoothing
    return -float(output.loss)


def test_blip_batched_scores_equal_each_choice_alone(tiny_model: Path):
    adapter = BlipAdapter.from_pretrained(str(tiny_model))
    model = load_vqa_model(str(tiny_model)).eval()
    scores = adapter.choice_scores(model, adapter.prepare_images(images()), QUESTIONS, CHOICES)
    assert [len(row) for row in scores] == [len(row) for row in CHOICES]
    with torch.inference_mode():
        expected = [
            [blip_reference(model, adapter, image, question, choice) for choice in row]
            for image, question, row in zip(images(), QUESTIONS, CHOICES, strict=True)
        ]
    for got, want in zip(scores, expected, strict=True):
        assert got == pytest.approx(want, abs=TOLERANCE)
    assert len({round(s, 3) for s in scores[0]}) == len(CHOICES[0])  # the choices are told apart


def test_blip_scores_do_not_depend_on_the_batch(tiny_model: Path):
    adapter = BlipAdapter.from_pretrained(str(tiny_model))
    model = load_vqa_model(str(tiny_model)).eval()
    first, second = images()
    alone = adapter.choice_scores(model, adapter.prepare_images([first]), QUESTIONS[:1], CHOICES[:1])
    pixels = adapter.prepare_images([second, first])
    together = adapter.choice_scores(model, pixels, QUESTIONS[::-1], CHOICES[::-1])
    assert together[1] == pytest.approx(alone[0], abs=TOLERANCE)


# ---- chat VLMs -----------------------------------------------------------------------------------
def vlm_reference(model, adapter, image: Image.Image, question: str, choice: str, family: str) -> float:
    """One (question, choice) row, unpadded: the processor's encoding of the rendered conversation, labels
    from the end of the assistant's turn opening to its end marker, scored by the model's own loss."""
    processor = adapter.processor
    if family == "paligemma":  # no chat template: the choice is the suffix (the processor labels it + EOS)
        text = f"{processor.image_token}{PALIGEMMA_VQA_PREFIX}{question}"
        batch = processor(images=[image], text=[text], suffix=[choice], return_tensors="pt")
        labels = batch.pop("labels")
    else:
        user = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        answer = [{"role": "assistant", "content": [{"type": "text", "text": choice}]}]
        opening = processor.apply_chat_template(user, add_generation_prompt=True, tokenize=False)
        full = processor.apply_chat_template(user + answer, tokenize=False)
        if family == "llava":
            full += adapter.tokenizer.eos_token  # llava-1.5 has no end-of-turn token: EOS ends the answer
        prompt = processor(images=[image], text=[opening], return_tensors="pt")["input_ids"][0]
        batch = processor(images=[image], text=[full], return_tensors="pt")
        ids = batch["input_ids"][0]
        assert ids[: len(prompt)].tolist() == prompt.tolist()
        end_token = END_OF_TURN.get(family, adapter.tokenizer.eos_token)
        end = ids.tolist().index(adapter.tokenizer.convert_tokens_to_ids(end_token), len(prompt))
        labels = torch.full_like(batch["input_ids"], -100)
        labels[0, len(prompt) : end + 1] = ids[len(prompt) : end + 1]
    batch = {key: value for key, value in batch.items() if isinstance(value, torch.Tensor)}
    output = model(**batch, labels=labels)
    return -float(output.loss) * int((labels[:, 1:] != -100).sum())  # mean over the predicted labels


def loaded(folder: Path):
    qwen2_vl_processor_class()  # registers the image-only Qwen2-VL processor (no torchvision here)
    return load_adapter(str(folder)), load_vqa(str(folder)).eval()


def test_vlm_batched_scores_equal_each_choice_alone(tiny_vlm: Path):
    adapter, model = loaded(tiny_vlm)
    family = model.config.model_type
    pictures = adapter.prepare_images(images())
    scores = adapter.choice_scores(model, pictures, QUESTIONS, CHOICES)
    with torch.inference_mode():
        expected = [
            [vlm_reference(model, adapter, image, question, choice, family) for choice in row]
            for image, question, row in zip(pictures, QUESTIONS, CHOICES, strict=True)
        ]
    for got, want in zip(scores, expected, strict=True):
        assert got == pytest.approx(want, abs=TOLERANCE)
    assert len({round(s, 3) for s in scores[0]}) == len(CHOICES[0])


def test_vlm_scores_do_not_depend_on_the_batch(tiny_vlm: Path):
    adapter, model = loaded(tiny_vlm)
    first, second = adapter.prepare_images(images())
    alone = adapter.choice_scores(model, [first], QUESTIONS[:1], CHOICES[:1])
    together = adapter.choice_scores(model, [second, first], QUESTIONS[::-1], CHOICES[::-1])
    assert together[1] == pytest.approx(alone[0], abs=TOLERANCE)


def test_vlm_evaluate_answers_with_its_most_likely_choice(tiny_vlm: Path, tmp_path: Path):
    items, data = aokvqa_layout(tmp_path, count=3)
    adapter, model = loaded(tiny_vlm)
    result = evaluate(str(tiny_vlm), data, tmp_path, None, EvaluateConfig(metric="aokvqa-mc", suites=()))
    predictions = {row["question_id"]: row["answer"] for row in result["predictions"]}
    for item in items:
        image = Image.open(tmp_path / f"val2017/{item['image_id']:012d}.jpg")
        [scores] = adapter.choice_scores(
            model, adapter.prepare_images([image]), [item["question"]], [item["choices"]]
        )
        assert predictions[item["question_id"]] == item["choices"][int(np.argmax(scores))]
