"""Configuration of the embedded default's pretraining (the stand-in for a web-pretrained VLM)."""

from __future__ import annotations

from seltda.models.tiny_blip import TinyBlipConfig
from seltda.training import TrainingConfig


class PretrainConfig(TrainingConfig):
    """Captioning + image-text matching with hard negatives (+ contrastive loss) on the synthetic corpus."""

    max_steps: int = 4000
    learning_rate: float = 1e-3
    save_steps: int = 500
    corpus_seed: int = 0
    corpus_size: int = 1_000_000  # items are generated on the fly; this only bounds the index space
    itm_weight: float = 1.0  # 0 disables image-text matching (captioning only)
    negative_share: float = 0.5
    itc_weight: float = 0.0  # image-text contrastive loss (BLIP's third objective); 0 disables it
    tag_weight: float = 0.0  # image tagging from caption words (Tag2Text); 0 disables it
    probe_images: int = 600
    tiny: TinyBlipConfig = TinyBlipConfig()
