"""Base models whose text decoder starts from the text encoder's layers: BLIP's sharing of everything but
self-attention, applied once before the teacher is fine-tuned instead of throughout pretraining (issue 16,
item 5). What image-text matching taught the encoder (binding a caption's colour word to the image) would
then start in the teacher's question-answer generator.

    python benchmarks/decoder_from_encoder.py OUT            # OUT/base-xattn-ffn, base-xattn, base-all-emb
    python benchmarks/pool_diagnostic.py RUN OUT --by-case "teacher:t-xattn:--model OUT/base-xattn"

Variants: `xattn-ffn` (cross-attention and feed-forward, BLIP's shared part), `xattn` (cross-attention
only), `all-emb` (cross-attention, feed-forward and the embeddings, i.e. the output layer too).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from transformers import BlipForQuestionAnswering

from seltda.models.registry import resolve_model

PARTS = {
    "xattn-ffn": ("crossattention", "intermediate", "output"),
    "xattn": ("crossattention",),
    "all-emb": ("crossattention", "intermediate", "output"),
}


def decoder_from_encoder(source: Path, out: Path, variant: str) -> Path:
    """A copy of `source` (a BLIP VQA folder) whose decoder layers' `PARTS[variant]` are the encoder's."""
    if out.is_dir():  # written whole or not at all (below)
        return out
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial, ignore=shutil.ignore_patterns("checkpoints"))
    model = BlipForQuestionAnswering.from_pretrained(source)
    encoder, decoder = model.text_encoder, model.text_decoder.bert
    with torch.no_grad():
        for source_layer, target_layer in zip(encoder.encoder.layer, decoder.encoder.layer, strict=True):
            for part in PARTS[variant]:
                getattr(target_layer, part).load_state_dict(getattr(source_layer, part).state_dict())
        if variant == "all-emb":
            decoder.embeddings.load_state_dict(encoder.embeddings.state_dict())
    model.save_pretrained(partial)
    partial.rename(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--model", default="tiny-blip-pretrained", help="a BLIP VQA folder or model name")
    parser.add_argument("--variants", nargs="+", default=list(PARTS), choices=list(PARTS))
    args = parser.parse_args()
    source = Path(resolve_model(args.model))
    for variant in args.variants:
        print(decoder_from_encoder(source, args.out / f"base-{variant}", variant), flush=True)


if __name__ == "__main__":
    main()
