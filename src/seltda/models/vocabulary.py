"""A BLIP folder's vocabulary extended to a user's texts: new BERT word pieces appended, old ids unchanged.

The shipped pretrained tiny BLIP knows only the words of its pretraining corpus; any other word falls back
to characters (or to `[UNK]`). `extend_vocabulary` appends the word pieces that the texts need (from the
full BERT-uncased vocabulary, as `vocabulary_subset` picks them) after the existing ids, so every
pretrained row, `[DEC]`/BOS, `[SEP]` and `[PAD]` keep their ids, and grows the text encoder's and the
text decoder's embeddings (the decoder's output layer is tied to them) with transformers' mean resizing
(new rows start at the old rows' mean; the output bias too).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict
from transformers import AutoProcessor, BertTokenizer, BlipForQuestionAnswering, BlipProcessor

from seltda.models.base import quiet_loading
from seltda.models.registry import resolve_model
from seltda.models.tiny_blip import build_tokenizer, bundled_vocab_file


class VocabularyExtension(BaseModel):
    """What a base folder was extended from (its stage record's config)."""

    model_config = ConfigDict(extra="forbid")

    model: str  # the name or folder given
    source: str  # the folder it resolved to


def missing_word_pieces(
    tokenizer: BertTokenizer, texts: Iterable[str], vocab_file: Path | None = None
) -> list[str]:
    """The full BERT-uncased word pieces of `texts` that `tokenizer` lacks, in the full vocabulary's order."""
    vocab_file = vocab_file or bundled_vocab_file()
    full_vocab = vocab_file.read_text(encoding="utf-8").splitlines()
    full = BertTokenizer(vocab=str(vocab_file), do_lower_case=True)
    known = tokenizer.get_vocab()
    needed = {piece for text in texts for piece in full.tokenize(text)} - {full.unk_token}
    return [token for token in full_vocab if token in needed and token not in known]


def extend_vocabulary(
    source: str | os.PathLike[str], texts: Iterable[str], out_dir: Path, seed: int = 0
) -> dict:
    """Write `source` (a BLIP folder or named model) to `out_dir` with its vocabulary extended to `texts`.

    The folder is complete (safetensors weights, config, processor) and loads with plain
    `BlipForQuestionAnswering.from_pretrained` and `AutoProcessor.from_pretrained`. With nothing missing it
    is a copy. New embedding rows follow transformers' mean resizing, seeded by `seed`.
    """
    folder = resolve_model(source)
    out_dir = Path(out_dir)
    with quiet_loading():
        processor = AutoProcessor.from_pretrained(folder)
        model = BlipForQuestionAnswering.from_pretrained(folder)
    old = processor.tokenizer
    added = missing_word_pieces(old, texts)
    vocabulary = old.convert_ids_to_tokens(list(range(len(old)))) + added
    tokenizer = build_tokenizer(out_dir, vocabulary)
    if tokenizer.get_vocab() != {token: index for index, token in enumerate(vocabulary)}:
        raise RuntimeError(f"{folder}: extending the vocabulary would move existing token ids")
    size = len(tokenizer)
    torch.manual_seed(seed)
    bias = model.text_decoder.cls.predictions.bias.detach().clone()
    with quiet_loading():  # transformers explains mean resizing at warning level
        model.text_encoder.resize_token_embeddings(size, mean_resizing=True)
        model.text_decoder.resize_token_embeddings(size, mean_resizing=True)
    with torch.no_grad():  # the tied head's bias is padded with zeros: start new tokens at the old mean
        model.text_decoder.cls.predictions.bias[len(bias) :] = bias.mean()
    model.config.text_config.vocab_size = size
    model.save_pretrained(out_dir)
    BlipProcessor(image_processor=processor.image_processor, tokenizer=tokenizer).save_pretrained(out_dir)
    return {"source": folder, "added_tokens": len(added), "vocab_size": size}
