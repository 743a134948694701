import contextlib

import pytest
import torch
from PIL import Image

from seltda.models import blip
from seltda.models.blip import BlipAdapter, load_vqg_model
from seltda.models.shared_image_attention import SharedImageCrossAttention, shared_image_attention


@contextlib.contextmanager
def never_shared(text_decoder):
    yield False


def test_shared_image_encoding_gives_the_repeated_encodings_samples(tiny_model, monkeypatch):
    adapter = BlipAdapter.from_pretrained(str(tiny_model), max_target_tokens=10)
    model = load_vqg_model(str(tiny_model)).eval()
    pixels = adapter.prepare_images([Image.new("RGB", (32, 32), c) for c in ["red", "blue", "white"]])
    torch.manual_seed(0)
    shared = adapter.sample_questions(model, pixels, num_samples=4)
    monkeypatch.setattr(blip, "shared_image_attention", never_shared)
    torch.manual_seed(0)
    repeated = adapter.sample_questions(model, pixels, num_samples=4)
    assert [[t for t, _ in group] for group in shared] == [[t for t, _ in group] for group in repeated]
    scores = [[s for _, s in group] for group in shared], [[s for _, s in group] for group in repeated]
    assert torch.allclose(torch.tensor(scores[0]), torch.tensor(scores[1]), atol=1e-5)


def test_the_decoder_gets_its_own_attention_back(tiny_model):
    decoder = load_vqg_model(str(tiny_model)).text_decoder
    originals = [layer.crossattention.self for layer in decoder.bert.encoder.layer]
    with pytest.raises(RuntimeError), shared_image_attention(decoder) as shared:
        assert shared and all(
            isinstance(layer.crossattention.self, SharedImageCrossAttention)
            for layer in decoder.bert.encoder.layer
        )
        raise RuntimeError("generation failed")
    assert [layer.crossattention.self for layer in decoder.bert.encoder.layer] == originals


def test_another_decoder_structure_is_left_alone():
    other = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with shared_image_attention(other) as shared:
        assert shared is False
    assert isinstance(other[0], torch.nn.Linear)


def test_a_preallocated_cache_keeps_the_repeated_encodings(tiny_model):
    decoder = load_vqg_model(str(tiny_model)).text_decoder
    decoder.generation_config.cache_implementation = "static"
    with shared_image_attention(decoder) as shared:
        assert shared is False


def test_image_keys_and_values_are_projected_once_per_generation(tiny_model):
    """BLIP's decoder hands its cross-attention no encoder-decoder cache: the wrapper projects each
    layer's image keys and values at the first step and reuses them at every later one (and the samples
    stay the repeated path's: the test above)."""
    adapter = BlipAdapter.from_pretrained(str(tiny_model), max_target_tokens=10)
    model = load_vqg_model(str(tiny_model)).eval()
    pixels = adapter.prepare_images([Image.new("RGB", (32, 32), c) for c in ["red", "blue"]])
    layers = model.text_decoder.bert.encoder.layer
    projections: list[str] = []
    steps: list[int] = []
    for index, layer in enumerate(layers):
        layer.crossattention.self.key.register_forward_hook(lambda *_, i=index: projections.append(f"k{i}"))
        layer.crossattention.self.value.register_forward_hook(lambda *_, i=index: projections.append(f"v{i}"))
    layers[0].crossattention.self.query.register_forward_hook(lambda *_: steps.append(1))
    for num_samples in (1, 3):
        projections.clear(), steps.clear()
        torch.manual_seed(0)
        adapter.sample_questions(model, pixels, num_samples=num_samples)
        assert len(steps) > 2  # several decoding steps ...
        assert sorted(projections) == sorted(
            f"{kv}{i}" for i in range(len(layers)) for kv in "kv"
        )  # ... one projection
