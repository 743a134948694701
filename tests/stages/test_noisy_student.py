import json
from types import SimpleNamespace

import pytest
import torch
from PIL import Image, ImageDraw

import seltda.stages.augment as augment_module
from seltda.models import load_vqa
from seltda.run.stage import read_stage
from seltda.stages.augment import (
    MAX_ASPECT_CHANGE,
    MIN_AREA,
    StudentNoise,
    augment,
    draw_window,
    restore,
    set_dropout,
)
from seltda.stages.student import train_student
from seltda.stages.student_config import StudentConfig
from seltda.stages.train import LossTrainer

RED, WHITE, BLUE = (220, 30, 30), (255, 255, 255), (30, 30, 220)
DROPOUT_KEYS = ("hidden_dropout_prob", "attention_probs_dropout_prob", "attention_dropout")


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def textured(size: int = 32) -> torch.Tensor:
    return torch.rand(3, size, size, generator=generator(123)) * 2 - 1


def centred_square(size: int = 64) -> Image.Image:
    image = Image.new("RGB", (size, size), WHITE)
    ImageDraw.Draw(image).rectangle((size // 4, size // 4, 3 * size // 4 - 1, 3 * size // 4 - 1), fill=RED)
    return image


def to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.tensor(list(image.getdata()), dtype=torch.float32).T.reshape(3, image.height, image.width)


def centre_mean(pixels: torch.Tensor, size: int = 64) -> torch.Tensor:
    lo, hi = 3 * size // 8, 5 * size // 8
    return pixels[:, lo:hi, lo:hi].float().mean(dim=(1, 2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.uint8])
def test_augmented_tensor_keeps_shape_and_dtype(dtype):
    pixels = (textured() * 100 + 120).to(dtype)
    out = augment(pixels, generator(0))
    assert out.shape == pixels.shape and out.dtype == dtype


def test_augmented_image_keeps_size_and_mode():
    image = centred_square(48).resize((48, 40))
    out = augment(image, generator(0))
    assert out.size == (48, 40) and out.mode == "RGB"


def test_draws_differ_and_the_same_seed_repeats():
    pixels = textured()
    first, second = augment(pixels, generator(0)), augment(pixels, generator(1))
    assert not torch.equal(first, second)
    assert torch.equal(first, augment(pixels, generator(0)))
    image = Image.fromarray((pixels.permute(1, 2, 0).add(1).mul(127).byte()).numpy())
    assert augment(image, generator(0)).tobytes() == augment(image, generator(0)).tobytes()
    assert augment(image, generator(0)).tobytes() != augment(image, generator(1)).tobytes()


def test_windows_are_mild_crops_inside_the_image():
    rng = generator(7)
    windows = [draw_window(rng) for _ in range(500)]
    for w in windows:
        assert w.width * w.height >= MIN_AREA - 1e-9
        assert 1 / (1 + MAX_ASPECT_CHANGE) - 1e-9 <= w.width / w.height <= 1 + MAX_ASPECT_CHANGE + 1e-9
        assert w.left >= 0 and w.left + w.width <= 1 + 1e-9 and w.top >= 0 and w.top + w.height <= 1 + 1e-9
    assert len({(round(w.left, 6), round(w.top, 6)) for w in windows}) > 400  # shifted, not only resized


def test_colour_of_a_centred_square_is_kept():
    image = centred_square()
    pixels = to_tensor(image)
    for seed in range(20):
        assert torch.allclose(
            centre_mean(augment(pixels, generator(seed))), torch.tensor(RED).float(), atol=1
        )
        out = to_tensor(augment(image, generator(seed)))
        assert torch.allclose(centre_mean(out), torch.tensor(RED).float(), atol=1)


def test_no_flips():
    image = Image.new("RGB", (64, 64), RED)
    ImageDraw.Draw(image).rectangle((32, 0, 63, 63), fill=BLUE)  # red left half, blue right half
    for seed in range(20):
        for out in (to_tensor(augment(image, generator(seed))), augment(to_tensor(image), generator(seed))):
            assert torch.allclose(out[:, :, :8].mean(dim=(1, 2)), torch.tensor(RED).float(), atol=1)
            assert torch.allclose(out[:, :, -8:].mean(dim=(1, 2)), torch.tensor(BLUE).float(), atol=1)


def test_student_noise_draws_per_example_and_epoch(tiny_model):
    model = load_vqa(str(tiny_model))
    noise = StudentNoise(model, 0.1, seed=3)
    pixels = textured()
    epoch0 = noise.augment_example(pixels, "a")
    assert torch.equal(
        epoch0, StudentNoise(load_vqa(str(tiny_model)), 0.1, seed=3).augment_example(pixels, "a")
    )
    assert not torch.equal(epoch0, noise.augment_example(pixels, "b"))
    assert not torch.equal(epoch0, StudentNoise(model, 0.1, seed=4).augment_example(pixels, "a"))
    noise.on_epoch_begin(None, SimpleNamespace(epoch=1.0), None)
    epoch1 = noise.augment_example(pixels, "a")
    assert not torch.equal(epoch0, epoch1)
    noise.on_epoch_begin(None, SimpleNamespace(epoch=1.5), None)  # resumed mid-epoch: the same draws
    assert torch.equal(epoch1, noise.augment_example(pixels, "a"))


def test_set_dropout_and_restore(tiny_model):
    model = load_vqa(str(tiny_model))
    model.vision_model.encoder.layers[0].self_attn.attention_dropout = 0.0  # a functional dropout attribute
    before = {k: v for k, v in model.config.to_dict().items()}
    changed = set_dropout(model, 0.3)
    dropouts = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts and all(m.p == 0.3 for m in dropouts)
    assert model.vision_model.encoder.layers[0].self_attn.attention_dropout == 0.3
    assert model.config.text_config.hidden_dropout_prob == 0.3
    assert model.config.vision_config.attention_dropout == 0.3
    restore(changed)
    assert model.config.to_dict() == before
    assert all(m.p == 0.0 for m in dropouts)
    assert model.vision_model.encoder.layers[0].self_attn.attention_dropout == 0.0


def dropout_values(folder) -> dict:
    config = json.loads((folder / "config.json").read_text())
    return {
        (part, key): config[part][key]
        for part in ("text_config", "vision_config")
        for key in DROPOUT_KEYS
        if key in config[part]
    }


def spy_training(monkeypatch) -> dict:
    """Count augmentation calls and record the dropout probabilities seen while training."""
    seen = {"augment": 0, "dropout": set()}
    original_augment, original_loss = augment_module.augment, LossTrainer.compute_loss

    def counting_augment(image, rng):
        seen["augment"] += 1
        return original_augment(image, rng)

    def recording_loss(self, model, inputs, *args, **kwargs):
        inner = self.accelerator.unwrap_model(model)
        seen["dropout"] |= {m.p for m in inner.modules() if isinstance(m, torch.nn.Dropout)}
        seen["dropout"].add(inner.config.text_config.hidden_dropout_prob)
        return original_loss(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(augment_module, "augment", counting_augment)
    monkeypatch.setattr(LossTrainer, "compute_loss", recording_loss)
    return seen


def run(dataset, tiny_model, out, **changes):
    changes = {"max_steps": 3, **changes}
    cfg = StudentConfig(model=str(tiny_model), batch_size=4, save_steps=100, **changes)
    metrics = train_student([dataset["train"]], dataset["root"], out, cfg)
    return metrics, (out / "model.safetensors").read_bytes()


def test_noisy_training_uses_dropout_and_saves_the_original_config(
    dataset, tiny_model, tmp_path, monkeypatch
):
    original = dropout_values(tiny_model)
    assert original and 0.25 not in original.values()
    seen = spy_training(monkeypatch)
    _, noisy = run(dataset, tiny_model, tmp_path / "noisy", noise=True, dropout=0.25, synthetic_ratio=0)
    # every example of every batch (the data loader prepares one batch ahead)
    assert seen["augment"] >= 3 * 4 and seen["augment"] % 4 == 0 and seen["dropout"] == {0.25}
    assert dropout_values(tmp_path / "noisy") == original
    config = read_stage(tmp_path / "noisy")["config"]
    assert config["noise"] is True and config["dropout"] == 0.25
    _, again = run(dataset, tiny_model, tmp_path / "again", noise=True, dropout=0.25, synthetic_ratio=0)
    assert again == noisy  # reproducible from the seed


def test_noise_off_trains_as_before(dataset, tiny_model, tmp_path, monkeypatch):
    seen = spy_training(monkeypatch)
    _, plain = run(dataset, tiny_model, tmp_path / "plain", synthetic_ratio=0)
    assert seen["augment"] == 0 and seen["dropout"] == set(dropout_values(tiny_model).values())
    assert read_stage(tmp_path / "plain")["config"]["noise"] is False
    _, again = run(dataset, tiny_model, tmp_path / "again", synthetic_ratio=0)
    _, noisy = run(dataset, tiny_model, tmp_path / "noisy", noise=True, synthetic_ratio=0)
    assert again == plain and noisy != plain


def test_loader_workers_draw_what_the_main_process_draws(dataset, tiny_model, tmp_path, monkeypatch):
    """Two epochs (6 steps each): the workers see each epoch's number, so the draws match a run without
    workers (a stale epoch would repeat the first epoch's draws and change the weights)."""
    options = {"noise": True, "synthetic_ratio": 0, "max_steps": 8}
    _, main = run(dataset, tiny_model, tmp_path / "main", **options)
    _, workers = run(dataset, tiny_model, tmp_path / "workers", dataloader_workers=2, **options)
    assert workers == main
    monkeypatch.setattr(StudentNoise, "on_epoch_begin", lambda *args, **kwargs: None)
    _, first_epoch_draws = run(dataset, tiny_model, tmp_path / "stale", **options)
    assert first_epoch_draws != main


@pytest.mark.parametrize("noise", [False, True])
def test_callbacks_reach_the_trainer_beside_the_noise(dataset, tiny_model, tmp_path, noise):
    """`train_student(callbacks=...)`: a caller's callback sees every optimizer step, with Noisy Student's
    own callback kept (its dropout still applies) or without it."""
    from transformers import TrainerCallback

    class Steps(TrainerCallback):
        def __init__(self):
            self.steps = []

        def on_step_end(self, args, state, control, **kwargs):
            self.steps.append(state.global_step)

    steps = Steps()
    cfg = StudentConfig(
        model=str(tiny_model), batch_size=4, save_steps=100, max_steps=3, noise=noise, synthetic_ratio=0
    )
    train_student([dataset["train"]], dataset["root"], tmp_path / "s", cfg, callbacks=[steps])
    assert steps.steps == [1, 2, 3]
    _, without = run(dataset, tiny_model, tmp_path / "plain", noise=noise, synthetic_ratio=0)
    assert (tmp_path / "s" / "model.safetensors").read_bytes() == without  # it only observes
