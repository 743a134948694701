import torch
from PIL import Image

from seltda.models.blip import BlipAdapter, load_vqa_model, load_vqg_model


def test_vqa_batch_expands_soft_targets(tiny_model):
    adapter = BlipAdapter.from_pretrained(str(tiny_model))
    pixels = adapter.prepare_images([Image.new("RGB", (40, 30))] * 2)
    batch = adapter.vqa_batch(
        pixels, ["what color?", "is it round?"], [["red", "blue"], ["yes"]], [[0.8, 0.2], [1.0]]
    )
    assert batch["answer_index"].tolist() == [0, 0, 1]
    assert torch.allclose(batch["answer_weight"], torch.tensor([0.8, 0.2, 1.0]))
    assert (batch["decoder_input_ids"][:, 0] == adapter.tokenizer.bos_token_id).all()
    assert (batch["labels"][batch["decoder_attention_mask"] == 0] == -100).all()
    model = load_vqa_model(str(tiny_model))
    loss = adapter.vqa_loss(model, batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()


def test_answers_do_not_depend_on_question_padding(tiny_model):
    adapter = BlipAdapter.from_pretrained(str(tiny_model))
    model = load_vqa_model(str(tiny_model)).eval()
    images = [Image.new("RGB", (32, 32), c) for c in ["red", "blue"]]
    questions = ["what?", "what color is the big shape in this image?"]
    together = adapter.answer(model, adapter.vqa_batch(adapter.prepare_images(images), questions))
    alone = [
        adapter.answer(model, adapter.vqa_batch(adapter.prepare_images([i]), [q]))[0]
        for i, q in zip(images, questions, strict=True)
    ]
    assert together == alone


def test_sampling_encodes_once_and_scores_each_sample(tiny_model):
    adapter = BlipAdapter.from_pretrained(str(tiny_model), max_target_tokens=8)
    model = load_vqg_model(str(tiny_model)).eval()
    calls = []
    model.vision_model.register_forward_hook(lambda *a: calls.append(1))
    torch.manual_seed(0)
    samples = adapter.sample_questions(
        model, adapter.prepare_images([Image.new("RGB", (32, 32))] * 3), num_samples=4
    )
    assert len(calls) == 1
    assert [len(s) for s in samples] == [4, 4, 4]
    assert all(isinstance(text, str) and score <= 0 for group in samples for text, score in group)


def test_sampling_from_a_one_token_nucleus_is_greedy_decoding(tiny_model):
    adapter = BlipAdapter.from_pretrained(str(tiny_model), max_target_tokens=8)
    model = load_vqg_model(str(tiny_model)).eval()
    pixels = adapter.prepare_images([Image.new("RGB", (32, 32), c) for c in ["red", "blue"]])
    samples = adapter.sample_questions(model, pixels, num_samples=2, top_p=1e-6)
    with torch.inference_mode():
        greedy = model.generate(pixel_values=pixels, do_sample=False, max_new_tokens=8)
    texts = adapter.tokenizer.batch_decode(greedy, skip_special_tokens=True)
    assert [[text for text, _ in group] for group in samples] == [[t, t] for t in texts]


def test_loader_pixels_normalized_on_the_device_are_the_processors_pixel_values(tiny_model):
    adapter = BlipAdapter.from_pretrained(str(tiny_model))
    images = [
        Image.new("RGB", (40, 30), "red"),
        Image.frombytes("RGB", (64, 64), bytes(range(256)) * 48),
        Image.new("L", (100, 20), 128),
    ]
    resized = adapter.sampling_inputs(images)
    assert resized.dtype == torch.uint8  # a quarter of float32's bytes between loader and device
    on_device = adapter.sampling_inputs_on(resized, "cpu", torch.float32)
    assert torch.allclose(on_device, adapter.prepare_images(images), atol=1e-5)
    assert adapter.sampling_inputs_on(resized, "cpu", torch.bfloat16).dtype == torch.bfloat16
