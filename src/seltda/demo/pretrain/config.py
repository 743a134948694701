"""Configuration of the embedded default's pretraining (the stand-in for a web-pretrained VLM)."""

from __future__ import annotations

from pydantic import Field

from seltda.models.tiny_blip import TinyBlipConfig
from seltda.stages.train_config import TrainingConfig


class PretrainConfig(TrainingConfig):
    """Two stages on the synthetic corpus: the vision tower classifies one-object images (as BLIP starts
    from an ImageNet-trained ViT), then captioning + image-text contrastive + matching (+ optional tagging).
    The contrastive loss is what lets matching learn at this scale: without it, matching stays at chance.
    """

    max_steps: int = Field(1500, ge=1, description="image-text steps, after the vision stage's steps")
    learning_rate: float = Field(1e-3, gt=0, description="peak learning rate")
    save_steps: int = Field(500, ge=1, description="checkpoint every N steps")
    corpus_seed: int = Field(0, description="seed of the generated image-caption corpus")
    corpus_size: int = Field(
        1_000_000, ge=1, description="items are generated on the fly; this only bounds the index space"
    )
    itm_weight: float = Field(1.0, ge=0, description="weight of image-text matching, 0: off")
    negative_share: float = Field(
        0.5, ge=0, le=1, description="image-text matching: share of items shown with a mismatched text"
    )
    hard_negative_share: float = Field(
        0.5, ge=0, le=1, description="of those, the caption with one attribute changed; else another image's"
    )
    itc_weight: float = Field(1.0, ge=0, description="weight of the image-text contrastive loss, 0: off")
    vision_steps: int = Field(
        3000, ge=0, description="first stage: the vision tower classifies one-object images (0: skip)"
    )
    freeze_vision_tower: bool = Field(
        False, description="pretraining trains the tower (the image-text stage fixes it: freeze_vision)"
    )
    freeze_vision: bool = Field(
        True, description="image-text stage: keep the vision stage's tower fixed (LiT, BLIP-2)"
    )
    share_text_layers: bool = Field(
        False, description="BLIP: text encoder and decoder share all but self-attention"
    )
    tag_weight: float = Field(0.0, ge=0, description="weight of image tagging from caption words, 0: off")
    probe_images: int = Field(600, ge=1, description="held-out images of the zero-shot probe")
    tiny: TinyBlipConfig = TinyBlipConfig()
