"""Chat VLMs sample N texts per image from one prefill (models/chat_sampling.py): counted on the tiny models
of each family (test_models_vlm.py's), and compared with `generate(num_return_sequences=N)`'s samples."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_models_vlm import (
    FAMILIES,
    IDEFICS3_TEMPLATE,
    build_idefics3,
    chat_tokenizer,
    idefics3_parts,
    qwen2_vl_processor_class,
    save,
    text_config,
    tiny_vlm,
)

from seltda.models import load_adapter, load_vqg
from seltda.models.chat_sampling import ONE_PREFILL_TYPES, shares_prefill
from seltda.models.sampling import NucleusSampler

__all__ = ["chat_tokenizer", "tiny_vlm"]  # the session fixtures this module uses

VISION_TOWERS = {
    "idefics3": "vision_model",
    "smolvlm": "vision_model",
    "qwen2_vl": "visual",
    "paligemma": "vision_tower",
    "llava": "vision_tower",
}


def images() -> list[Image.Image]:
    """Two images the tiny models tell apart: noise and a flat colour (of another size)."""
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    return [Image.fromarray(noise), Image.new("RGB", (40, 24), "white")]


def loaded(folder: Path, **limits):
    qwen2_vl_processor_class()  # registers the image-only Qwen2-VL processor (no torchvision here)
    return load_adapter(str(folder), **limits), load_vqg(str(folder)).eval()


@contextmanager
def counted(model: torch.nn.Module) -> Iterator[dict[str, int]]:
    """Images through the vision tower, and prompt rows through the language model (forward calls over
    more than one token: the prefill; each decoding step passes one token per row)."""
    counts = {"images": 0, "prompt_rows": 0, "step_rows": 0}

    def vision(module, args, kwargs) -> None:
        if "grid_thw" in kwargs or len(args) > 1:  # Qwen2-VL: flattened patches, one grid row per image
            counts["images"] += len(kwargs.get("grid_thw", args[1] if len(args) > 1 else None))
        else:
            counts["images"] += (args[0] if args else kwargs["pixel_values"]).shape[0]

    def language(module, args, kwargs) -> None:
        rows, length = kwargs["inputs_embeds"].shape[:2]
        counts["prompt_rows" if length > 1 else "step_rows"] += rows

    tower = getattr(model.model, VISION_TOWERS[model.config.model_type])
    handles = [
        tower.register_forward_pre_hook(vision, with_kwargs=True),
        model.get_decoder().register_forward_pre_hook(language, with_kwargs=True),
    ]
    try:
        yield counts
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def first_steps() -> Iterator[list[tuple[torch.Tensor, torch.Tensor]]]:
    """Each `NucleusSampler`'s first step: the log-probabilities it receives (one row per sample) and the
    tokens it draws."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    original = NucleusSampler.__call__

    def recording(self, input_ids, scores):
        first = self.prompt_length is None
        logprobs = scores.float().log_softmax(-1)
        drawn = original(self, input_ids, scores)
        if first:
            seen.append((logprobs, drawn.argmax(-1)))
        return drawn

    NucleusSampler.__call__ = recording
    try:
        yield seen
    finally:
        NucleusSampler.__call__ = original


@pytest.fixture(scope="module")
def tiny_smolvlm(tmp_path_factory: pytest.TempPathFactory, chat_tokenizer: Path) -> Path:
    """SmolVLM: Idefics3's architecture under its own model type (and Idefics3's processor here)."""
    from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration

    processor, tokenizer, vision = idefics3_parts(chat_tokenizer, IDEFICS3_TEMPLATE)
    config = SmolVLMConfig(
        vision_config=vision,
        text_config=dict(text_config(tokenizer), model_type="llama"),
        image_token_id=processor.image_token_id,
        scale_factor=2,
    )
    torch.manual_seed(0)
    model = SmolVLMForConditionalGeneration(config)
    return save(tmp_path_factory.mktemp("smolvlm"), model, processor, tokenizer, "<end_of_utterance>")


def test_every_tiny_family_takes_the_one_prefill_path():
    assert set(FAMILIES) | {"smolvlm"} == ONE_PREFILL_TYPES


def test_smolvlm_is_prefilled_once_with_the_same_samples(tiny_smolvlm: Path):
    test_each_image_is_encoded_and_prefilled_once(tiny_smolvlm)
    test_same_samples_and_scores_as_repeated_inputs(tiny_smolvlm)


def test_each_image_is_encoded_and_prefilled_once(tiny_vlm: Path):
    adapter, model = loaded(tiny_vlm, max_target_tokens=4)
    assert shares_prefill(model)
    pictures = adapter.prepare_images(images())
    counts = {}
    for one_prefill in (False, True):
        adapter.one_prefill = one_prefill
        with counted(model) as counts[one_prefill]:
            groups = adapter.sample_questions(model, pictures, num_samples=3, min_new_tokens=4)
        assert [len(group) for group in groups] == [3, 3]
    assert counts[False]["prompt_rows"] == 6  # the repeated path prefills each prompt N times
    # (transformers >= 5.2x encodes each image once before repeating the inputs; older ones N times)
    assert counts[True]["images"] == counts[True]["prompt_rows"] == 2  # one prefill per image
    assert counts[True]["step_rows"] == counts[False]["step_rows"] + 6  # the prompt's last token again


def test_same_samples_and_scores_as_repeated_inputs(tiny_vlm: Path):
    """Same seed, same draws: the texts and scores of both paths agree, and so does every row's first-step
    distribution, which differs between the two images (rows in another order would not match)."""
    adapter, model = loaded(tiny_vlm, max_target_tokens=8)
    pictures = adapter.prepare_images(images())
    samples, logprobs = {}, {}
    for one_prefill in (False, True):
        adapter.one_prefill = one_prefill
        torch.manual_seed(7)
        with first_steps() as seen:
            samples[one_prefill] = adapter.sample_questions(
                model, pictures, num_samples=3, top_p=0.9, repetition_penalty=1.3
            )
        [(logprobs[one_prefill], _)] = seen
    old, new = logprobs[False], logprobs[True]
    assert old.shape[0] == new.shape[0] == 6
    torch.testing.assert_close(new, old, atol=1e-4, rtol=1e-4)
    assert (new[0] - new[3]).abs().max() > 1e-2  # image 0's rows and image 1's differ
    assert torch.equal(new[0], new[1]) and torch.equal(new[0], new[2])  # interleaved: i*N+j is image i
    texts = {path: [[text for text, _ in group] for group in groups] for path, groups in samples.items()}
    assert texts[True] == texts[False]
    scores = {path: [score for group in groups for _, score in group] for path, groups in samples.items()}
    assert scores[True] == pytest.approx(scores[False], abs=1e-4)


@pytest.fixture(scope="module")
def tiny_idefics3(tmp_path_factory: pytest.TempPathFactory, chat_tokenizer: Path) -> Path:
    torch.manual_seed(0)
    return build_idefics3(tmp_path_factory.mktemp("idefics3-prefill"), chat_tokenizer)


def total_variation(p: torch.Tensor, q: torch.Tensor) -> float:
    return 0.5 * float((p - q).abs().sum())


def test_first_tokens_follow_the_model_distribution(tiny_idefics3: Path):
    """Many first tokens of each image drawn through the expanded cache: their frequencies match the
    model's own distribution for that image (a plain forward pass), which differs between the images."""
    adapter, model = loaded(tiny_idefics3, max_target_tokens=1)
    adapter.one_prefill = True
    pictures = adapter.prepare_images(images())
    temperature, draws = 0.02, 400  # the random model's near-flat distribution, sharpened to a few tokens
    with torch.inference_mode():
        inputs = adapter.sampling_inputs(pictures)
        exact = (model(**inputs).logits[:, -1].float() / temperature).softmax(-1)
    assert total_variation(exact[0], exact[1]) > 0.3
    torch.manual_seed(0)
    with counted(model) as counts, first_steps() as seen:
        adapter.sample_questions(model, pictures, num_samples=draws, top_p=1.0, temperature=temperature)
    assert counts["prompt_rows"] == 2
    [(_, tokens)] = seen
    for image, drawn in enumerate(tokens.view(2, draws)):  # rows i*N+j: image i
        empirical = torch.bincount(drawn, minlength=exact.shape[1]).float() / draws
        assert total_variation(empirical, exact[image]) < 0.12
        assert total_variation(empirical, exact[1 - image]) > 0.2
