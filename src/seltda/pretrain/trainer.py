"""Pretrain the tiny BLIP on the synthetic corpus, as BLIP is pretrained on web data.

Two of BLIP's objectives: captioning (the text decoder, conditioned on the image) and image-text matching
(the text encoder cross-attending to the image, classifying matched vs hard-negative captions). The
result is a `BlipForQuestionAnswering` folder: both SelTDA arms (baseline and teacher/student) start
from it.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import Dataset
from transformers import BlipForQuestionAnswering

from seltda.models.blip import BlipAdapter
from seltda.models.tiny_blip import blip_config, build_processor, build_tokenizer, vocabulary_subset
from seltda.pretrain import corpus
from seltda.pretrain.config import PretrainConfig
from seltda.pretrain.probe import probe
from seltda.training import read_stage, stage_complete, train, write_stage


class BlipForPretraining(BlipForQuestionAnswering):
    """The VQA architecture plus BLIP's image-text matching head (dropped after pretraining)."""

    def __init__(self, config) -> None:
        super().__init__(config)
        self.itm_head = nn.Linear(config.text_config.hidden_size, 2)


class CorpusDataset(Dataset):
    """Corpus items generated on the fly: image pixels, caption, and a matching or mismatched text."""

    def __init__(self, cfg: PretrainConfig, to_pixels) -> None:
        self.cfg = cfg
        self.to_pixels = to_pixels

    def __len__(self) -> int:
        return self.cfg.corpus_size

    def __getitem__(self, index: int) -> dict:
        image, text, negative, _ = corpus.item(self.cfg.corpus_seed, index, self.cfg.tiny.image_size)
        use_negative = random.Random(index).random() < self.cfg.negative_share
        return {
            "pixel_values": self.to_pixels([image])[0],
            "caption": text,
            "itm_text": negative if use_negative else text,
            "itm_label": 0 if use_negative else 1,
        }


def pretraining_loss(adapter: BlipAdapter, itm_weight: float):
    """Captioning loss + image-text matching loss, sharing one pass of the vision encoder."""

    def loss_fn(model: BlipForPretraining, batch: dict) -> torch.Tensor:
        image_embeds = model.vision_model(pixel_values=batch["pixel_values"]).last_hidden_state
        lm = model.text_decoder(
            input_ids=batch["decoder_input_ids"],
            attention_mask=batch["decoder_attention_mask"],
            encoder_hidden_states=image_embeds,
            labels=batch["labels"],
            reduction="mean",
        ).loss
        if itm_weight == 0:
            return lm
        image_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device)
        text_states = model.text_encoder(
            input_ids=batch["itm_input_ids"],
            attention_mask=batch["itm_attention_mask"],
            encoder_hidden_states=image_embeds,
            encoder_attention_mask=image_mask,
        ).last_hidden_state
        itm = nn.functional.cross_entropy(model.itm_head(text_states[:, 0]), batch["itm_labels"])
        return lm + itm_weight * itm

    return loss_fn


def build_pretraining_model(out_dir: Path, cfg: PretrainConfig) -> tuple[BlipForPretraining, BlipAdapter]:
    """A randomly initialised tiny BLIP whose vocabulary covers the corpus and common question words."""
    tokenizer = build_tokenizer(out_dir, vocabulary_subset(corpus.vocabulary_texts()))
    processor = build_processor(tokenizer, cfg.tiny.image_size)
    torch.manual_seed(cfg.seed)
    model = BlipForPretraining(blip_config(tokenizer, cfg.tiny))
    return model, BlipAdapter(processor, max_target_tokens=40)


def pretrain(out_dir: Path, cfg: PretrainConfig | None = None) -> dict:
    """Pretrain and save a `BlipForQuestionAnswering` folder with its processor; resumable."""
    cfg = cfg or PretrainConfig()
    out_dir = Path(out_dir)
    if stage_complete(out_dir):
        return read_stage(out_dir)["metrics"]
    start = time.perf_counter()
    model, adapter = build_pretraining_model(out_dir, cfg)

    def collate(items: list[dict]) -> dict:
        pixels = torch.stack([item["pixel_values"] for item in items])
        batch = adapter.vqg_batch(pixels, [item["caption"] for item in items])
        batch = {
            "pixel_values": pixels,
            "decoder_input_ids": batch["input_ids"],
            "decoder_attention_mask": batch["attention_mask"],
            "labels": batch["labels"],
        }
        ids, mask = adapter._tokenize([item["itm_text"] for item in items], 40)
        batch.update(itm_input_ids=ids, itm_attention_mask=mask)
        batch["itm_labels"] = torch.tensor([item["itm_label"] for item in items])
        return batch

    dataset = CorpusDataset(cfg, adapter.pixel_values)
    trainer, metrics = train(model, dataset, collate, pretraining_loss(adapter, cfg.itm_weight), cfg, out_dir)
    if trainer.is_world_process_zero():
        vqa_model = BlipForQuestionAnswering(model.config)
        vqa_model.load_state_dict(model.state_dict(), strict=False)
        vqa_model.save_pretrained(out_dir)
        adapter.processor.save_pretrained(out_dir)
        save_file(
            {k: v.contiguous() for k, v in model.itm_head.state_dict().items()},
            out_dir / "itm_head.safetensors",
        )
        metrics["probe"] = probe(out_dir, cfg)
        metrics["seconds"] = round(time.perf_counter() - start, 2)
        write_stage(out_dir, "pretrain", cfg, metrics)
    return metrics
