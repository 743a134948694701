from PIL import ImageChops
from transformers import BlipForConditionalGeneration, BlipForQuestionAnswering

from seltda.models.tiny_blip import TinyBlipConfig
from seltda.pretrain import corpus
from seltda.pretrain.config import PretrainConfig
from seltda.pretrain.trainer import pretrain
from seltda.training import read_stage

TINY = TinyBlipConfig(
    image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2
)


def test_corpus_items_are_reproducible_and_broad():
    first, again = corpus.item(3, 17), corpus.item(3, 17)
    assert first[1:] == again[1:] and ImageChops.difference(first[0], again[0]).getbbox() is None
    scenes = [corpus.item(0, i)[3] for i in range(400)]
    assert {t.shape for s in scenes for t in s.things} == set(corpus.SHAPES)
    assert {t.color for s in scenes for t in s.things} == set(corpus.COLORS)
    assert {len(s.things) for s in scenes} == {1, 2, 3}


def test_captions_name_the_objects_and_negatives_change_one():
    for index in range(300):
        _, _, negative, scene = corpus.item(1, index)
        truth = {(t.color, t.shape) for t in scene.things}
        named = {(c, s) for c in corpus.COLORS for s in corpus.SHAPES if f"{c} {s}" in negative}
        assert named - truth, f"the negative must name an object that is not there: {negative}"


def test_pretrain_writes_a_model_both_arms_can_load(tmp_path):
    cfg = PretrainConfig(max_steps=3, batch_size=8, probe_images=8, tiny=TINY, save_steps=100)
    metrics = pretrain(tmp_path / "pt", cfg)
    assert metrics["steps"] == 3 and 0 <= metrics["probe"]["shape_accuracy"] <= 100
    assert read_stage(tmp_path / "pt")["stage"] == "pretrain"
    BlipForQuestionAnswering.from_pretrained(tmp_path / "pt")
    BlipForConditionalGeneration.from_pretrained(tmp_path / "pt")
    assert (tmp_path / "pt" / "itm_head.safetensors").exists()
