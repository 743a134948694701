"""The shipped pretrained tiny BLIP's vocabulary extended to a user's texts (`models/vocabulary.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoProcessor, BlipForConditionalGeneration, BlipForQuestionAnswering

from seltda.models import load_adapter, load_vqa, resolve_model
from seltda.models.registry import PRETRAINED_TINY
from seltda.models.vocabulary import extend_vocabulary

USER_TEXTS = ["question: what digit is this? answer: seven", "question: what is the price? answer: 3 €"]


@pytest.fixture(scope="module")
def shipped() -> Path:
    return Path(resolve_model(PRETRAINED_TINY))


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("extended")
    return {"folder": out, "result": extend_vocabulary(PRETRAINED_TINY, USER_TEXTS, out)}


def test_extension_gives_unknown_and_spelled_out_words_their_own_ids(shipped, extended):
    before = AutoProcessor.from_pretrained(shipped).tokenizer
    after = AutoProcessor.from_pretrained(extended["folder"]).tokenizer
    assert before.tokenize("€") == ["[UNK]"] and after.tokenize("€") == ["€"]
    assert len(before.tokenize("digit")) > 1 and after.tokenize("digit") == ["digit"]
    assert after.tokenize("seven") == ["seven"] and "[UNK]" not in after.tokenize(" ".join(USER_TEXTS))
    for word in ["digit", "seven", "€"]:
        assert after.convert_tokens_to_ids(word) >= len(before)
    result = extended["result"]
    assert result["vocab_size"] == len(after) == len(before) + result["added_tokens"]
    assert result["added_tokens"] >= 3 and result["source"] == str(shipped)


def test_extension_keeps_old_ids_and_their_rows(shipped, extended):
    before = AutoProcessor.from_pretrained(shipped).tokenizer
    after = AutoProcessor.from_pretrained(extended["folder"]).tokenizer
    new_ids = after.get_vocab()
    assert all(new_ids[token] == index for token, index in before.get_vocab().items())
    for name in ["bos_token_id", "sep_token_id", "pad_token_id", "cls_token_id", "unk_token_id"]:
        assert getattr(after, name) == getattr(before, name)
    old = load_file(shipped / "model.safetensors")
    new = load_file(extended["folder"] / "model.safetensors")
    assert set(old) == set(new)
    grown = [name for name in old if old[name].shape != new[name].shape]
    assert grown and all("word_embeddings" in name or "predictions.bias" in name for name in grown)
    size = len(before)
    for name, weight in old.items():
        assert (
            torch.equal(new[name][:size], weight[:size]) if name in grown else torch.equal(new[name], weight)
        )
    for name in grown:  # new rows start at the old rows' mean
        assert torch.allclose(new[name][size:], old[name].mean(0).expand_as(new[name][size:]), atol=1e-4)


def test_extended_folder_loads_with_plain_transformers_and_answers(extended):
    folder = extended["folder"]
    size = extended["result"]["vocab_size"]
    model = BlipForQuestionAnswering.from_pretrained(folder)
    assert model.config.text_config.vocab_size == size
    assert model.text_decoder.get_output_embeddings().weight.shape[0] == size
    assert model.text_decoder.cls.predictions.bias.shape[0] == size
    assert (
        BlipForConditionalGeneration.from_pretrained(folder).text_decoder.cls.predictions.bias.shape[0]
        == size
    )
    assert AutoProcessor.from_pretrained(folder).tokenizer.bos_token == "[DEC]"
    adapter = load_adapter(str(folder))
    vqa = load_vqa(str(folder)).eval()
    batch = adapter.vqa_batch(
        adapter.prepare_images([Image.new("RGB", (64, 64), "red")]), ["what color is it?"]
    )
    answers = adapter.answer(vqa, batch)
    assert len(answers) == 1 and isinstance(answers[0], str)


def test_extension_with_nothing_missing_is_a_copy_and_deterministic(shipped, extended, tmp_path):
    copy = extend_vocabulary(shipped, ["what color is the shape? red"], tmp_path / "copy")
    assert copy["added_tokens"] == 0
    assert (
        load_file(tmp_path / "copy" / "model.safetensors").keys()
        == load_file(shipped / "model.safetensors").keys()
    )
    for name, weight in load_file(shipped / "model.safetensors").items():
        assert torch.equal(load_file(tmp_path / "copy" / "model.safetensors")[name], weight)
    again = extend_vocabulary(PRETRAINED_TINY, USER_TEXTS, tmp_path / "again")
    assert again == extended["result"]
    for name in ["model.safetensors", "vocab.txt", "tokenizer.json"]:
        assert (tmp_path / "again" / name).read_bytes() == (extended["folder"] / name).read_bytes()
