"""benchmarks/decoder_from_encoder.py: a BLIP whose text decoder starts from the encoder's layers."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from transformers import BlipForQuestionAnswering

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from decoder_from_encoder import PARTS, decoder_from_encoder  # noqa: E402


def _equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    return all(torch.equal(x, y) for x, y in pairs)


def test_each_variant_copies_its_parts_and_keeps_the_rest(tmp_path, tiny_model):
    source = BlipForQuestionAnswering.from_pretrained(tiny_model)
    encoder, decoder = source.text_encoder, source.text_decoder.bert
    for variant, parts in PARTS.items():
        out = decoder_from_encoder(tiny_model, tmp_path / variant, variant)
        copy = BlipForQuestionAnswering.from_pretrained(out)
        for s, t, original in zip(
            encoder.encoder.layer, copy.text_decoder.bert.encoder.layer, decoder.encoder.layer, strict=True
        ):
            for part in ("crossattention", "intermediate", "output"):
                copied = _equal(getattr(s, part), getattr(t, part))
                kept = _equal(getattr(original, part), getattr(t, part))
                assert (copied, kept) == ((True, False) if part in parts else (False, True)), (variant, part)
            assert _equal(t.attention, original.attention), variant  # self-attention stays the decoder's
        embeddings = copy.text_decoder.bert.embeddings
        assert _equal(embeddings, encoder.embeddings if variant == "all-emb" else decoder.embeddings), variant
        assert _equal(copy.text_encoder, encoder), variant  # the encoder is untouched
        assert (out / "tokenizer.json").is_file() or (out / "vocab.txt").is_file()  # loads with its processor
        assert decoder_from_encoder(tiny_model, out, variant) == out  # done: kept as it is
    assert not list(tmp_path.glob("*.partial"))
