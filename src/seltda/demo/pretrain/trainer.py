"""Pretrain the tiny BLIP on the synthetic corpus, as BLIP is pretrained on web data.

BLIP's three objectives: captioning (the text decoder, conditioned on the image), image-text matching
(the text encoder cross-attending to the image, classifying matched vs hard-negative captions) and
image-text contrastive learning (image and caption embeddings of a batch aligned against each other), plus
Tag2Text's image tagging (Huang et al. 2023: the words of the caption, predicted from the pooled image
features as a multi-label target; no label beyond the caption is used). The
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

from seltda.core.images import batched
from seltda.demo.pretrain import corpus
from seltda.demo.pretrain.config import PretrainConfig
from seltda.demo.pretrain.probe import probe
from seltda.demo.pretrain.vision import VISION_STAGE, pretrain_vision
from seltda.models.blip import BlipAdapter
from seltda.models.tiny_blip import blip_config, build_processor, build_tokenizer, vocabulary_subset
from seltda.run.stage import read_stage, stage_complete, write_stage
from seltda.stages.train import train
from seltda.stages.train_config import TrainingConfig


class BlipForPretraining(BlipForQuestionAnswering):
    """The VQA architecture + BLIP's matching head and contrastive projections (dropped after pretraining)."""

    def __init__(self, config) -> None:
        super().__init__(config)
        hidden, projection = config.text_config.hidden_size, config.projection_dim
        self.itm_head = nn.Linear(hidden, 2)
        self.vision_proj = nn.Linear(config.vision_config.hidden_size, projection)
        self.text_proj = nn.Linear(hidden, projection)
        self.itc_logit_scale = nn.Parameter(torch.tensor(2.6592))  # log(1 / 0.07), as CLIP and BLIP
        self.tag_head = nn.Linear(2 * config.vision_config.hidden_size, config.text_config.vocab_size)

    def share_text_layers(self) -> None:
        """Tie the text decoder to the text encoder except self-attention, as BLIP pretrains them.

        What image-text matching teaches the encoder (binding a caption's words to the image) then reaches
        the decoder, which becomes the teacher's question-answer generator.
        """
        encoder, decoder = self.text_encoder, self.text_decoder.bert
        decoder.embeddings = encoder.embeddings
        for source, target in zip(encoder.encoder.layer, decoder.encoder.layer, strict=True):
            target.crossattention = source.crossattention
            target.intermediate = source.intermediate
            target.output = source.output

    def save_pretrained(self, save_directory, *args, state_dict=None, **kwargs):
        """Checkpoints write shared layers under both names (safetensors refuses aliased tensors)."""
        state_dict = self.state_dict() if state_dict is None else state_dict
        state_dict = {name: tensor.clone() for name, tensor in state_dict.items()}
        return super().save_pretrained(save_directory, *args, state_dict=state_dict, **kwargs)


PRETRAINING_HEADS = ("itm_head", "vision_proj", "text_proj", "itc_logit_scale", "tag_head")


def tagging_loss(model: BlipForPretraining, image_embeds: torch.Tensor, batch: dict) -> torch.Tensor:
    """Multi-label BCE: which vocabulary words does the caption use, from the pooled image features alone.

    The gradient reaches the vision tower directly (not through cross-attention), which is what makes a
    small ViT learn shape quickly; special tokens are not tags.
    """
    pooled = torch.cat([image_embeds[:, 0], image_embeds[:, 1:].mean(dim=1)], dim=-1)
    logits = model.tag_head(pooled)
    ids = batch["decoder_input_ids"].masked_fill(batch["decoder_attention_mask"] == 0, 0)
    tags = torch.zeros_like(logits).scatter_(1, ids, 1.0)
    tags[:, batch["special_token_ids"]] = 0.0
    # summed over the vocabulary (a caption has a handful of tags among hundreds of words), mean over images
    return nn.functional.binary_cross_entropy_with_logits(logits, tags, reduction="sum") / len(tags)


def contrastive_loss(model: BlipForPretraining, image_embeds: torch.Tensor, batch: dict) -> torch.Tensor:
    """Symmetric InfoNCE between image [CLS] and caption [CLS] embeddings of a batch, as CLIP and BLIP.

    Equal captions in a batch embed identically, so they cost the same whichever image they are paired with.
    """
    text = model.text_encoder(input_ids=batch["itc_input_ids"], attention_mask=batch["itc_attention_mask"])
    image_feat = nn.functional.normalize(model.vision_proj(image_embeds[:, 0]), dim=-1)
    text_feat = nn.functional.normalize(model.text_proj(text.last_hidden_state[:, 0]), dim=-1)
    logits = image_feat @ text_feat.T * model.itc_logit_scale.clamp(max=4.6052).exp()
    targets = torch.arange(len(logits), device=logits.device)
    return (nn.functional.cross_entropy(logits, targets) + nn.functional.cross_entropy(logits.T, targets)) / 2


def matching_role(corpus_seed: int, index: int, negative_share: float, hard_share: float) -> str:
    """How item `index` is shown for image-text matching: "positive", "hard" or "batch" negative.

    Drawn from a stream of its own: a draw from the item's scene stream would tie the label to the scene
    (the first draw also picks the object count, and the head would learn "one object means mismatch").
    """
    rng = random.Random(f"matching/{corpus_seed}/{index}")
    if rng.random() >= negative_share:
        return "positive"
    return "hard" if rng.random() < hard_share else "batch"


def matching_texts(items: list[dict]) -> tuple[list[str], list[int]]:
    """Each item's text for image-text matching and its label (1: the image's caption).

    A "batch" negative is the caption of the next item in the batch that reads differently (as BLIP
    draws its negatives from the batch); without one, the item's hard negative.
    """
    texts, labels = [], []
    for i, item in enumerate(items):
        if item["matching_role"] == "positive":
            texts.append(item["caption"])
            labels.append(1)
            continue
        text = item["negative"]
        if item["matching_role"] == "batch":
            others = (items[(i + k) % len(items)]["caption"] for k in range(1, len(items)))
            text = next((c for c in others if c != item["caption"]), text)
        texts.append(text)
        labels.append(0)
    return texts, labels


class CorpusDataset(Dataset):
    """Corpus items generated on the fly: image pixels, caption, and a matching or mismatched text."""

    def __init__(self, cfg: PretrainConfig, to_pixels) -> None:
        self.cfg = cfg
        self.to_pixels = to_pixels

    def __len__(self) -> int:
        return self.cfg.corpus_size

    def __getitem__(self, index: int) -> dict:
        cfg = self.cfg
        image, text, negative, _ = corpus.item(cfg.corpus_seed, index, cfg.tiny.image_size)
        return {
            "pixel_values": self.to_pixels([image])[0],
            "caption": text,
            "negative": negative,
            "matching_role": matching_role(
                cfg.corpus_seed, index, cfg.negative_share, cfg.hard_negative_share
            ),
        }


def matching_logits(
    model: BlipForPretraining,
    image_embeds: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
) -> torch.Tensor:
    """Matching logits (mismatch, match): the text encoder's [CLS], cross-attending to the image."""
    image_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device)
    states = model.text_encoder(
        input_ids=input_ids,
        attention_mask=attention_mask,
        encoder_hidden_states=image_embeds,
        encoder_attention_mask=image_mask,
    ).last_hidden_state
    return model.itm_head(states[:, 0])


def pretraining_loss(
    adapter: BlipAdapter, itm_weight: float, itc_weight: float = 0.0, tag_weight: float = 0.0
):
    """Captioning + image-text matching + contrastive losses, sharing one pass of the vision encoder."""

    def loss_fn(model: BlipForPretraining, batch: dict) -> torch.Tensor:
        image_embeds = model.vision_model(pixel_values=batch["pixel_values"]).last_hidden_state
        lm = model.text_decoder(
            input_ids=batch["decoder_input_ids"],
            attention_mask=batch["decoder_attention_mask"],
            encoder_hidden_states=image_embeds,
            labels=batch["labels"],
            reduction="mean",
        ).loss
        if itc_weight:
            lm = lm + itc_weight * contrastive_loss(model, image_embeds, batch)
        if tag_weight:
            lm = lm + tag_weight * tagging_loss(model, image_embeds, batch)
        if itm_weight == 0:
            return lm
        logits = matching_logits(model, image_embeds, batch["itm_input_ids"], batch["itm_attention_mask"])
        return lm + itm_weight * nn.functional.cross_entropy(logits, batch["itm_labels"])

    return loss_fn


MATCHING_SEED_OFFSET = 104729  # held-out corpus seed of the matching check


@torch.inference_mode()
def matching_accuracy(model: BlipForPretraining, adapter: BlipAdapter, cfg: PretrainConfig) -> float:
    """Share of held-out corpus images whose caption the matching head prefers to the hard negative.

    50 is chance: a head that reads the wording instead of the image stays there.
    """
    model.eval()
    items = [corpus.item(cfg.corpus_seed + MATCHING_SEED_OFFSET, i, cfg.tiny.image_size) for i in range(400)]
    wins = 0
    for chunk in batched(items, 100):
        image_embeds = model.vision_model(
            pixel_values=adapter.prepare_images([c[0] for c in chunk])
        ).last_hidden_state
        scores = []
        for texts in ([c[1] for c in chunk], [c[2] for c in chunk]):
            ids, mask = adapter._tokenize(texts, 40)
            scores.append(matching_logits(model, image_embeds, ids, mask).log_softmax(-1)[:, 1])
        wins += int((scores[0] > scores[1]).sum())
    return round(100 * wins / len(items), 2)


def build_pretraining_model(out_dir: Path, cfg: PretrainConfig) -> tuple[BlipForPretraining, BlipAdapter]:
    """A randomly initialised tiny BLIP whose vocabulary covers the corpus and common question words."""
    tokenizer = build_tokenizer(out_dir, vocabulary_subset(corpus.vocabulary_texts()))
    processor = build_processor(tokenizer, cfg.tiny.image_size)
    torch.manual_seed(cfg.seed)
    model = BlipForPretraining(blip_config(tokenizer, cfg.tiny))
    if cfg.share_text_layers:
        model.share_text_layers()
    return model, BlipAdapter(processor, max_target_tokens=40)


def pretrain(out_dir: Path, cfg: PretrainConfig | None = None) -> dict:
    """Pretrain and save a `BlipForQuestionAnswering` folder with its processor; resumable."""
    cfg = cfg or PretrainConfig()
    out_dir = Path(out_dir)
    if stage_complete(out_dir):
        return read_stage(out_dir)["metrics"]
    start = time.perf_counter()
    model, adapter = build_pretraining_model(out_dir, cfg)
    vision_metrics = None
    if cfg.vision_steps:
        vision_cfg = TrainingConfig(
            **{
                **cfg.model_dump(include=set(TrainingConfig.model_fields)),
                "max_steps": cfg.vision_steps,
                "save_steps": max(100, cfg.vision_steps // 4),
            }
        )
        vision_metrics = pretrain_vision(
            model.vision_model, vision_cfg, out_dir / VISION_STAGE, cfg.corpus_seed, adapter.prepare_images
        )

    if cfg.freeze_vision:  # locked-image tuning (LiT, BLIP-2): the text side learns the tower's features
        model.vision_model.requires_grad_(False)
    special_ids = torch.tensor(adapter.tokenizer.all_special_ids)

    def collate(items: list[dict]) -> dict:
        pixels = adapter.batch_images([item["pixel_values"] for item in items])
        batch = adapter.vqg_batch(pixels, [item["caption"] for item in items])
        batch = {
            "pixel_values": pixels,
            "decoder_input_ids": batch["input_ids"],
            "decoder_attention_mask": batch["attention_mask"],
            "labels": batch["labels"],
        }
        if cfg.itm_weight:
            texts, labels = matching_texts(items)
            ids, mask = adapter._tokenize(texts, 40)
            batch.update(itm_input_ids=ids, itm_attention_mask=mask, itm_labels=torch.tensor(labels))
        if cfg.itc_weight:  # the caption re-tokenized with [CLS] for the text encoder
            ids, mask = adapter._tokenize([item["caption"] for item in items], 40)
            batch.update(itc_input_ids=ids, itc_attention_mask=mask)
        if cfg.tag_weight:
            batch["special_token_ids"] = special_ids
        return batch

    dataset = CorpusDataset(cfg, adapter.prepare_images)
    loss_fn = pretraining_loss(adapter, cfg.itm_weight, cfg.itc_weight, cfg.tag_weight)
    trainer, metrics = train(model, dataset, collate, loss_fn, cfg, out_dir)
    if trainer.is_world_process_zero():
        vqa_model = BlipForQuestionAnswering(model.config)
        vqa_model.load_state_dict(model.state_dict(), strict=False)
        vqa_model.save_pretrained(out_dir)
        adapter.processor.save_pretrained(out_dir)
        heads = {k: v.contiguous() for k, v in model.state_dict().items() if k.startswith(PRETRAINING_HEADS)}
        save_file(heads, out_dir / "pretraining_heads.safetensors")
        metrics["probe"] = probe(out_dir, cfg)
        if cfg.itm_weight:
            metrics["probe"]["matching_accuracy"] = matching_accuracy(model, adapter, cfg)
        if vision_metrics is not None:
            metrics["vision_stage"] = vision_metrics
        metrics["seconds"] = round(time.perf_counter() - start, 2)
        write_stage(out_dir, "pretrain", cfg, metrics)
    return metrics
