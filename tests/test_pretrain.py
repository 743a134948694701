import torch
from PIL import ImageChops
from transformers import BlipForConditionalGeneration, BlipForQuestionAnswering

from seltda.demo.pretrain import corpus
from seltda.demo.pretrain.config import PretrainConfig
from seltda.demo.pretrain.trainer import matching_role, matching_texts, pretrain
from seltda.models.tiny_blip import TinyBlipConfig
from seltda.run.stage import read_stage

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


def _skeleton(text: str) -> str:
    """The caption's wording with colours, shapes and articles blanked."""

    def blank(word: str) -> str:
        if word in corpus.COLORS:
            return "C"
        if {word, word[:-1], word[:-2]} & set(corpus.SHAPES):
            return "S"
        return "A" if word in {"a", "an"} else word

    return " ".join(blank(w.rstrip(",:")) for w in text.split())


def test_negatives_change_one_attribute_in_the_caption_own_template():
    same_template = 0
    for index in range(400):
        _, positive, negative, scene = corpus.item(1, index)
        assert negative != positive
        truth = {(t.color, t.shape) for t in scene.things}
        named = {(c, s) for c in corpus.COLORS for s in corpus.SHAPES if f"{c} {s}" in negative}
        if named:
            assert named - truth, f"the negative must name an object that is not there: {negative}"
        same_template += _skeleton(positive) == _skeleton(negative)
    # the wording never gives the label away: matching must look at the image
    assert same_template >= 390


def test_matching_labels_are_independent_of_the_scene():
    shown = {1: [], 2: []}
    for index in range(1200):
        scene = corpus.item(0, index)[3]
        shown[min(len(scene.things), 2)].append(matching_role(0, index, 0.5, 0.5) != "positive")
    for negatives in shown.values():  # one object or several: half of each gets its negative
        assert 0.4 < sum(negatives) / len(negatives) < 0.6
    roles = [matching_role(0, index, 0.5, 0.5) for index in range(1200)]
    assert 0.2 < roles.count("hard") / len(roles) < 0.3 and 0.2 < roles.count("batch") / len(roles) < 0.3


def test_batch_negatives_are_another_image_caption():
    items = [
        {"caption": "a red circle", "negative": "a blue circle", "matching_role": "batch"},
        {"caption": "a red circle", "negative": "a red star", "matching_role": "positive"},
        {"caption": "two squares", "negative": "two stars", "matching_role": "hard"},
    ]
    texts, labels = matching_texts(items)
    assert texts == ["two squares", "a red circle", "two stars"] and labels == [0, 1, 0]
    alone = [{"caption": "a red circle", "negative": "a blue circle", "matching_role": "batch"}]
    assert matching_texts(alone) == (["a blue circle"], [0])


def test_pretrain_writes_a_model_both_arms_can_load(tmp_path):
    cfg = PretrainConfig(max_steps=3, batch_size=8, probe_images=8, tiny=TINY, save_steps=100)
    metrics = pretrain(tmp_path / "pt", cfg)
    assert metrics["steps"] == 3 and 0 <= metrics["probe"]["shape_accuracy"] <= 100
    assert 0 <= metrics["probe"]["matching_accuracy"] <= 100
    assert read_stage(tmp_path / "pt")["stage"] == "pretrain"
    BlipForQuestionAnswering.from_pretrained(tmp_path / "pt")
    BlipForConditionalGeneration.from_pretrained(tmp_path / "pt")
    assert (tmp_path / "pt" / "pretraining_heads.safetensors").exists()


def _contrastive_loss(image_feats, text_feats):
    from types import SimpleNamespace

    from seltda.demo.pretrain.trainer import contrastive_loss

    text_out = SimpleNamespace(last_hidden_state=text_feats[:, None, :])
    model = SimpleNamespace(
        text_encoder=lambda **_: text_out,
        vision_proj=torch.nn.Identity(),
        text_proj=torch.nn.Identity(),
        itc_logit_scale=torch.tensor(4.6052),  # temperature 0.01
    )
    batch = {"itc_input_ids": None, "itc_attention_mask": None}
    return contrastive_loss(model, image_feats[:, None, :], batch).item()


def test_contrastive_loss_rewards_matching_pairs():

    feats = torch.eye(4)
    assert _contrastive_loss(feats, feats) < 1e-3
    assert _contrastive_loss(feats, feats.roll(1, dims=0)) > 50
    # two images with the same caption: the loss floor is ln 2 for that pair, whichever image is which
    texts = feats.clone()
    texts[0] = texts[1] = (feats[0] + feats[1]) / 2**0.5
    assert abs(_contrastive_loss(feats, texts) - 2 * 0.6931 / 4) < 1e-3


def test_pretrain_with_contrastive_and_tagging_losses_saves_their_heads(tmp_path):
    from safetensors.torch import load_file

    cfg = PretrainConfig(
        max_steps=2, batch_size=8, probe_images=4, tiny=TINY, itc_weight=1.0, tag_weight=1.0, save_steps=100
    )
    pretrain(tmp_path / "pt", cfg)
    heads = load_file(tmp_path / "pt" / "pretraining_heads.safetensors")
    expected = {"vision_proj.weight", "text_proj.weight", "itm_head.weight", "tag_head.weight"}
    assert expected | {"itc_logit_scale"} <= set(heads)


def test_tagging_targets_are_the_caption_words_without_special_tokens(tmp_path):
    from types import SimpleNamespace

    from seltda.demo.pretrain.trainer import build_pretraining_model, tagging_loss

    _, adapter = build_pretraining_model(tmp_path / "m", PretrainConfig(tiny=TINY))
    tokenizer = adapter.tokenizer
    batch = adapter.vqg_batch(torch.zeros(2, 3, 4, 4), ["a red star", "two blue circles"])
    batch = {
        "decoder_input_ids": batch["input_ids"],
        "decoder_attention_mask": batch["attention_mask"],
        "special_token_ids": torch.tensor(tokenizer.all_special_ids),
    }
    expected = torch.full((2, len(tokenizer)), -20.0)
    for row, caption in enumerate(["a red star", "two blue circles"]):
        expected[row, tokenizer.convert_tokens_to_ids(tokenizer.tokenize(caption))] = 20.0
    embeds = torch.zeros(2, 5, 8)
    perfect = SimpleNamespace(tag_head=lambda pooled: expected)
    assert tagging_loss(perfect, embeds, batch).item() < 1e-3
    special = expected.clone()
    special[:, tokenizer.all_special_ids] = 20.0  # BOS, SEP, PAD are never tags
    assert tagging_loss(SimpleNamespace(tag_head=lambda pooled: special), embeds, batch).item() > 20
    wrong = SimpleNamespace(tag_head=lambda pooled: expected.flip(0))  # each image gets the other's words
    assert tagging_loss(wrong, embeds, batch).item() > 20


def test_labeled_objects_are_one_object_images_with_their_classes():
    from seltda.demo.pretrain.vision import COLOR_INDEX, SHAPE_INDEX

    things = [corpus.labeled_object(0, i)[1] for i in range(300)]
    assert {t.shape for t in things} == set(SHAPE_INDEX) and {t.color for t in things} == set(COLOR_INDEX)
    image, thing = corpus.labeled_object(0, 5)
    again, same = corpus.labeled_object(0, 5)
    assert thing == same and ImageChops.difference(image, again).getbbox() is None


def test_vision_stage_trains_the_tower_then_is_reused(tmp_path):
    from transformers import BlipVisionModel

    from seltda.demo.pretrain.trainer import build_pretraining_model
    from seltda.demo.pretrain.vision import pretrain_vision
    from seltda.stages.train_config import TrainingConfig

    model, adapter = build_pretraining_model(tmp_path / "m", PretrainConfig(tiny=TINY))
    before = {k: v.clone() for k, v in model.vision_model.state_dict().items()}
    cfg = TrainingConfig(max_steps=3, batch_size=8, save_steps=100)
    metrics = pretrain_vision(model.vision_model, cfg, tmp_path / "vision", 0, adapter.prepare_images)
    assert metrics["steps"] == 3
    trained = model.vision_model.state_dict()
    assert any(not torch.equal(before[k], trained[k]) for k in before)
    fresh = BlipVisionModel(model.vision_model.config)
    # finished: loads, no training
    pretrain_vision(fresh, cfg, tmp_path / "vision", 0, adapter.prepare_images)
    assert all(torch.equal(fresh.state_dict()[k], trained[k]) for k in trained)


def test_shared_text_layers_train_as_one_and_save_as_two(tmp_path):
    """BLIP's sharing: encoder and decoder tie all but self-attention; checkpoints and the model save."""
    cfg = PretrainConfig(
        max_steps=3,
        save_steps=2,
        batch_size=8,
        probe_images=8,
        tiny=TINY,
        vision_steps=0,
        share_text_layers=True,
    )
    pretrain(tmp_path / "pt", cfg)
    model = BlipForQuestionAnswering.from_pretrained(tmp_path / "pt")
    encoder, decoder = model.text_encoder.encoder.layer[0], model.text_decoder.bert.encoder.layer[0]
    for name in ("crossattention.self.query.weight", "intermediate.dense.weight", "output.dense.weight"):
        assert torch.equal(encoder.get_parameter(name), decoder.get_parameter(name)), name
    assert not torch.equal(encoder.attention.self.query.weight, decoder.attention.self.query.weight)
