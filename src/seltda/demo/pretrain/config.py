"""Configuration of the embedded default's pretraining (the stand-in for a web-pretrained VLM)."""

from __future__ import annotations

from seltda.models.tiny_blip import TinyBlipConfig
from seltda.stages.train_config import TrainingConfig


class PretrainConfig(TrainingConfig):
    """Two stages on the synthetic corpus: the vision tower classifies one-object images (as BLIP starts
    from an ImageNet-trained ViT), then captioning + image-text contrastive + matching (+ optional tagging).
    The contrastive loss is what lets matching learn at this scale: without it, matching stays at chance.
    """

    max_steps: int = 1500  # image-text steps, after `vision_steps` of the vision tower's first stage
    learning_rate: float = 1e-3
    save_steps: int = 500
    corpus_seed: int = 0
    corpus_size: int = 1_000_000  # items are generated on the fly; this only bounds the index space
    itm_weight: float = 1.0  # 0 disables image-text matching (captioning only)
    negative_share: float = 0.5  # image-text matching: share of items shown with a mismatched text
    hard_negative_share: float = 0.5  # of those, the caption with one attribute changed; else another image's
    itc_weight: float = 1.0  # image-text contrastive loss (BLIP's third objective); 0 disables it
    vision_steps: int = 3000  # first stage: the vision tower classifies one-object images (0: skip)
    freeze_vision: bool = True  # image-text stage: keep the vision stage's tower fixed (LiT, BLIP-2)
    share_text_layers: bool = False  # BLIP: text encoder and decoder share all but self-attention
    tag_weight: float = 0.0  # image tagging from caption words (Tag2Text); 0 disables it
    probe_images: int = 600
    tiny: TinyBlipConfig = TinyBlipConfig()
