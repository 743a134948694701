"""Tests for seltda.core.images."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from seltda.core.fileio import SeltdaInputError
from seltda.core.images import (
    IMAGE_EXTENSIONS,
    ImageSkip,
    is_image_name,
    load_image,
    scan_images,
    summarize_skips,
    to_rgb,
    try_load_image,
)


def noisy(size: tuple[int, int] = (48, 32)) -> Image.Image:
    """An RGB image that does not compress away, so truncation really cuts pixel data."""
    return Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))


def save(image: Image.Image, path: Path, **kwargs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


def reason_for(path: Path, **kwargs: object) -> str:
    with pytest.raises(ImageSkip) as info:
        load_image(path, **kwargs)  # type: ignore[arg-type]
    assert str(path) in str(info.value)
    return info.value.reason


# ---------------------------------------------------------------------------------------------- good images


@pytest.mark.parametrize("name", ["a.png", "a.jpg", "a.webp", "a.bmp", "a.tiff"])
def test_good_images_load_as_rgb(tmp_path: Path, name: str) -> None:
    path = save(noisy(), tmp_path / name)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (48, 32)


def test_rgba_composited_on_white(tmp_path: Path) -> None:
    path = save(Image.new("RGBA", (4, 4), (255, 0, 0, 0)), tmp_path / "clear.png")
    image = load_image(path)
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)
    half = save(Image.new("RGBA", (4, 4), (0, 0, 0, 128)), tmp_path / "half.png")
    assert load_image(half).getpixel((0, 0)) == pytest.approx((127, 127, 127), abs=1)


def test_palette_with_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 6))
    path = save(image, tmp_path / "pal.png", transparency=1)
    assert load_image(path).getpixel((0, 0)) == (255, 255, 255)
    plain = save(Image.new("P", (4, 4), 0), tmp_path / "plain.png")
    assert load_image(plain).mode == "RGB"


@pytest.mark.parametrize("mode", ["1", "L", "LA", "PA", "CMYK", "I", "F", "YCbCr", "La", "RGBa"])
def test_to_rgb_handles_modes(mode: str) -> None:
    assert to_rgb(Image.new(mode, (3, 2))).mode == "RGB"


def test_sixteen_bit_scaled(tmp_path: Path) -> None:
    path = save(Image.new("I;16", (4, 4), 65535), tmp_path / "deep.png")
    assert load_image(path).getpixel((0, 0)) == (255, 255, 255)
    mid = save(Image.new("I;16", (4, 4), 32768), tmp_path / "mid.png")
    assert load_image(mid).getpixel((0, 0)) == pytest.approx((127, 127, 127), abs=1)


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = save(Image.new("CMYK", (8, 8), (0, 0, 0, 0)), tmp_path / "cmyk.jpg")
    image = load_image(path)
    assert image.mode == "RGB" and image.getpixel((0, 0))[0] > 240


def test_exif_orientation_applied(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees
    path = save(noisy((40, 20)), tmp_path / "rot.jpg", exif=exif)
    assert load_image(path).size == (20, 40)
    assert load_image(path, exif_transpose=False).size == (40, 20)


# ---------------------------------------------------------------------------------------------- bad images


def test_missing(tmp_path: Path) -> None:
    assert reason_for(tmp_path / "nope.png") == "missing"


def test_broken_symlink_is_missing(tmp_path: Path) -> None:
    os.symlink(tmp_path / "gone.png", tmp_path / "link.png")
    assert reason_for(tmp_path / "link.png") == "missing"


def test_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    assert reason_for(path) == "empty"


def test_text_named_png(tmp_path: Path) -> None:
    path = tmp_path / "fake.png"
    path.write_text("this is not a picture\n" * 10)
    assert reason_for(path) == "not_an_image"


def test_directory_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "dir.png").mkdir()
    assert reason_for(tmp_path / "dir.png") == "unreadable"
    assert try_load_image(tmp_path / "nul\x00.png") == (None, "unreadable")


@pytest.mark.parametrize("fmt,name", [("PNG", "cut.png"), ("JPEG", "cut.jpg"), ("BMP", "cut.bmp")])
def test_truncated(tmp_path: Path, fmt: str, name: str) -> None:
    full = save(noisy((64, 64)), tmp_path / f"full.{fmt.lower()}", format=fmt)
    data = full.read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[: len(data) // 2])
    assert reason_for(cut) == "truncated"


def test_header_only_is_not_loaded(tmp_path: Path) -> None:
    data = save(noisy(), tmp_path / "full.png").read_bytes()
    cut = tmp_path / "header.png"
    cut.write_bytes(data[:30])
    assert reason_for(cut) in {"truncated", "not_an_image", "unreadable"}


def test_too_large_from_header_before_decoding(tmp_path: Path) -> None:
    # 60 megapixels (over the 50M default, under PIL's own limit): a few kB on disk.
    path = save(Image.new("1", (10_000, 6_000)), tmp_path / "wide.png")
    assert path.stat().st_size < 100_000
    assert reason_for(path) == "too_large"
    small = save(noisy(), tmp_path / "small.png")
    assert reason_for(small, max_pixels=100) == "too_large"


def test_decompression_bomb(tmp_path: Path) -> None:
    # 400 megapixels: beyond PIL's own DecompressionBombError limit, even with a generous max_pixels.
    path = save(Image.new("1", (20_000, 20_000)), tmp_path / "bomb.png")
    assert reason_for(path) == "too_large"
    assert reason_for(path, max_pixels=10**12) == "too_large"


def test_pil_bomb_warning_is_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    path = save(noisy((40, 40)), tmp_path / "warn.png")  # 1600 px: PIL warns, max_pixels allows
    assert reason_for(path, max_pixels=1000) == "too_large"
    assert load_image(path, max_pixels=5000).size == (40, 40)


def test_try_load_image(tmp_path: Path) -> None:
    good = save(noisy(), tmp_path / "ok.png")
    image, reason = try_load_image(good)
    assert image is not None and reason is None
    assert try_load_image(tmp_path / "missing.png") == (None, "missing")
    assert try_load_image(good, max_pixels=1) == (None, "too_large")


def test_image_skip_validates_reason(tmp_path: Path) -> None:
    skip = ImageSkip("empty", tmp_path / "x.png", "0-byte file")
    assert skip.reason == "empty" and "0-byte" in str(skip)
    with pytest.raises(ValueError):
        ImageSkip("bogus", tmp_path)


# ---------------------------------------------------------------------------------------------- scanning


def test_extensions() -> None:
    assert ".jpeg" in IMAGE_EXTENSIONS
    assert is_image_name("A.JPG") and is_image_name("b.Tiff") and not is_image_name("c.gif")


def test_scan_images(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for name in [
        "b.PNG",
        "a.jpg",
        "sub/deep/c.JpEg",
        "sub/d.webp",
        "notes.txt",
        ".hidden.png",
        ".cache/e.png",
    ]:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    outside = tmp_path / "outside"
    (outside / "nested").mkdir(parents=True)
    (outside / "x.png").write_bytes(b"x")
    (outside / "nested" / "y.png").write_bytes(b"x")
    os.symlink(outside / "x.png", root / "escape.png")
    os.symlink(outside, root / "escape_dir")
    os.symlink(root / "sub", root / "alias")  # duplicate of a real folder: not listed twice
    os.symlink(root, root / "sub" / "loop")  # cycle back to root: not followed
    os.symlink(root / ".cache", root / "cache")  # inside root, hidden target: followed
    os.symlink(root / "a.jpg", root / "sub" / "same.jpg")  # file alias inside root: a valid name
    os.symlink(root / "gone.png", root / "broken.png")
    images, skips = scan_images(root)
    assert images == ["a.jpg", "b.PNG", "cache/e.png", "sub/d.webp", "sub/deep/c.JpEg", "sub/same.jpg"]
    assert skips == {"outside_root": 2, "missing": 1}


def test_scan_images_plain(tmp_path: Path) -> None:
    for name in ["x/1.png", "x/2.bmp", "3.tif"]:
        save(noisy((2, 2)), tmp_path / name)
    assert scan_images(tmp_path) == (["3.tif", "x/1.png", "x/2.bmp"], {})


def test_scan_missing_root(tmp_path: Path) -> None:
    with pytest.raises(SeltdaInputError, match="image folder not found"):
        scan_images(tmp_path / "nope")


def test_summarize_skips() -> None:
    counter = Counter({"missing": 1, "truncated": 3, "empty": 0, "unreadable": 1})
    assert summarize_skips(counter) == {"truncated": 3, "missing": 1, "unreadable": 1}
    assert list(summarize_skips(counter)) == ["truncated", "missing", "unreadable"]
