"""Safe image loading and scanning for user image folders of unknown quality."""

from __future__ import annotations

import os
import stat
import warnings
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from PIL import Image, ImageOps, UnidentifiedImageError

from seltda.core.fileio import SeltdaInputError

T = TypeVar("T")

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "header_pixels",
    "IMAGE_EXTENSIONS",
    "SKIP_REASONS",
    "ImageSkip",
    "is_image_name",
    "load_image",
    "scan_images",
    "summarize_skips",
    "to_rgb",
    "try_load_image",
]

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
SKIP_REASONS = ("missing", "empty", "not_an_image", "truncated", "too_large", "unreadable", "outside_root")
DEFAULT_MAX_PIXELS = 50_000_000

_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_WHITE = (255, 255, 255)


class ImageSkip(Exception):
    """An image that cannot be used; ``reason`` is one of ``SKIP_REASONS``."""

    def __init__(self, reason: str, path: str | os.PathLike[str], detail: str = "") -> None:
        if reason not in SKIP_REASONS:
            raise ValueError(f"unknown image skip reason {reason!r}")
        self.reason = reason
        self.path = Path(path)
        self.detail = detail
        super().__init__(f"{path}: {reason}" + (f": {detail}" if detail else ""))


def is_image_name(name: str | os.PathLike[str]) -> bool:
    """True if the file name has an image extension (any letter case)."""
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS


# ---------------------------------------------------------------------------------------------- loading


def header_pixels(path: str | os.PathLike[str]) -> int | None:
    """Width x height read from the file header (nothing decoded), or None when it cannot be read."""
    try:
        with Image.open(path) as image:
            return image.width * image.height
    except Exception:  # a bad file is skipped and reported when it is loaded
        return None


def load_image(
    path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS, exif_transpose: bool = True
) -> Image.Image:
    """Fully decode ``path`` into an RGB image, or raise ``ImageSkip`` saying why not.

    The size is checked from the header before decoding; PIL's own bomb limit
    (``Image.MAX_IMAGE_PIXELS``) also applies. Alpha is composited on white, EXIF rotation applied.
    """
    path = Path(path)
    _check_file(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # broken metadata in user files is common and not actionable
        if _pil_limit_is_stricter(max_pixels):
            warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _decode(path, max_pixels, exif_transpose)
        except ImageSkip:
            raise
        except Exception as exc:  # nothing may crash on a bad image
            raise _classify(path, exc) from exc


def try_load_image(
    path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS, exif_transpose: bool = True
) -> tuple[Image.Image | None, str | None]:
    """``(image, None)`` on success, ``(None, reason)`` when the image must be skipped."""
    try:
        return load_image(path, max_pixels=max_pixels, exif_transpose=exif_transpose), None
    except ImageSkip as skip:
        return None, skip.reason


def _check_file(path: Path) -> None:
    """Refuse missing, non-regular and empty files before PIL sees them."""
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise ImageSkip("missing", path, "no such file (or a broken symlink)") from exc
    except (OSError, ValueError) as exc:  # ValueError: NUL byte in the path
        raise ImageSkip("unreadable", path, getattr(exc, "strerror", None) or str(exc)) from exc
    if not stat.S_ISREG(info.st_mode):
        raise ImageSkip("unreadable", path, "not a regular file")
    if info.st_size == 0:
        raise ImageSkip("empty", path, "0-byte file")


def _pil_limit_is_stricter(max_pixels: int) -> bool:
    """Whether PIL's bomb warning should count as too large (it fires only above its own limit)."""
    limit = Image.MAX_IMAGE_PIXELS
    return limit is not None and max_pixels <= limit


def _decode(path: Path, max_pixels: int, exif_transpose: bool) -> Image.Image:
    """Open, size-check, fully load and convert one image."""
    with Image.open(path) as image:
        width, height = image.size
        if width <= 0 or height <= 0:
            raise ImageSkip("not_an_image", path, f"invalid size {width}x{height}")
        if width * height > max_pixels:
            raise ImageSkip("too_large", path, f"{width}x{height} pixels exceeds max_pixels={max_pixels}")
        image.load()
        if exif_transpose:
            image = _apply_exif_orientation(image)
        return to_rgb(image)


def _apply_exif_orientation(image: Image.Image) -> Image.Image:
    """Rotate according to EXIF; broken EXIF leaves the image as is."""
    try:
        return ImageOps.exif_transpose(image) or image
    except Exception:
        return image


def _classify(path: Path, exc: Exception) -> ImageSkip:
    """Map a PIL/OS error to an ``ImageSkip`` with the right reason."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return ImageSkip("too_large", path, message)
    if isinstance(exc, UnidentifiedImageError):
        return ImageSkip("not_an_image", path, "not a recognised image format")
    if isinstance(exc, EOFError) or (isinstance(exc, OSError) and "truncat" in message.lower()):
        return ImageSkip("truncated", path, message)
    if isinstance(exc, FileNotFoundError):
        return ImageSkip("missing", path, message)
    return ImageSkip("unreadable", path, f"{type(exc).__name__}: {message}")


# ---------------------------------------------------------------------------------------------- modes


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB: alpha composited on white, high bit depths scaled to 8 bits."""
    if image.mode in ("P", "L", "RGB") and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in _ALPHA_MODES:
        return _flatten_alpha(image)
    if image.mode.startswith("I") or image.mode == "F":
        return _high_depth_to_8bit(image).convert("RGB")
    return image.convert("RGB")


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Composite an image with alpha onto a white background."""
    rgba = image.convert("LA" if image.mode == "La" else "RGBA").convert("RGBA")
    background = Image.new("RGBA", rgba.size, _WHITE + (255,))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _high_depth_to_8bit(image: Image.Image) -> Image.Image:
    """Scale 16-bit, 32-bit integer or float grayscale into 8-bit ``L``."""
    as_float = image.convert("F")
    low, high = as_float.getextrema()
    if image.mode.startswith("I;16") or (low >= 0 and 255 < high <= 65535):
        scale, offset = 255.0 / 65535.0, 0.0
    elif image.mode == "F" and low >= 0 and high <= 1.0:
        scale, offset = 255.0, 0.0
    elif low >= 0 and high <= 255:
        scale, offset = 1.0, 0.0
    else:
        span = (high - low) or 1.0
        scale, offset = 255.0 / span, -low * 255.0 / span
    return as_float.point(lambda value: value * scale + offset).convert("L")


# ---------------------------------------------------------------------------------------------- scanning


def scan_images(root: str | os.PathLike[str]) -> tuple[list[str], dict[str, int]]:
    """Recursively list image files under ``root`` as sorted relative POSIX paths.

    Hidden entries (names starting with '.') are ignored. Symlinks (files or folders) resolving
    outside ``root`` are not followed and are counted as ``outside_root``; broken image symlinks
    count as ``missing``; unreadable folders as ``unreadable``. Folder symlinks inside ``root`` are
    followed only to folders not already reached by their real path (so no duplicates, no loops).
    """
    root_path = Path(root)
    root_resolved = root_path.resolve()
    if not root_resolved.is_dir():
        raise SeltdaInputError(f"{root}: image folder not found or not a folder")
    scanner = _Scanner(root_resolved)
    scanner.run(root_path)
    return sorted(scanner.found), summarize_skips(scanner.skips)


class _Scanner:
    """Walks real folders first, then the symlinks met on the way (so real paths win)."""

    def __init__(self, root_resolved: Path) -> None:
        self.root = root_resolved
        self.found: list[str] = []
        self.skips: Counter[str] = Counter()
        self.visited: set[Path] = set()
        self.pending: list[tuple[Path, str]] = []
        self.links: deque[tuple[Path, str]] = deque()

    def run(self, root_path: Path) -> None:
        """Scan everything reachable from ``root_path``."""
        self._queue_folder(root_path, self.root, "")
        while self.pending or self.links:
            if self.pending:
                self._scan_folder(*self.pending.pop())
            else:
                self._follow_link(*self.links.popleft())

    def _scan_folder(self, folder: Path, prefix: str) -> None:
        """Record images, queue sub-folders and defer symlinks of one folder."""
        for entry in self._list_folder(folder):
            relative = f"{prefix}{entry.name}"
            try:
                if entry.is_symlink():
                    self.links.append((Path(entry.path), relative))
                elif entry.is_dir(follow_symlinks=False):
                    self._queue_folder(Path(entry.path), Path(entry.path).resolve(), relative + "/")
                elif entry.is_file(follow_symlinks=False) and is_image_name(entry.name):
                    self.found.append(relative)
            except OSError:
                self.skips["unreadable"] += 1

    def _list_folder(self, folder: Path) -> list[os.DirEntry[str]]:
        """Non-hidden entries of ``folder`` by name; an unreadable folder is counted and skipped."""
        try:
            with os.scandir(folder) as entries:
                visible = [entry for entry in entries if not entry.name.startswith(".")]
        except OSError:
            self.skips["unreadable"] += 1
            return []
        return sorted(visible, key=lambda entry: entry.name)

    def _follow_link(self, link: Path, relative: str) -> None:
        """Use a symlink only if it resolves inside the root."""
        try:
            target = link.resolve()
            is_dir = target.is_dir()
        except (OSError, RuntimeError):  # RuntimeError: symlink loop on older Pythons
            self.skips["unreadable"] += 1
            return
        if not (is_dir or is_image_name(link.name)):
            return
        if not target.is_relative_to(self.root):
            self.skips["outside_root"] += 1
        elif is_dir:
            self._queue_folder(link, target, relative + "/")
        elif target.is_file():
            self.found.append(relative)
        else:
            self.skips["missing"] += 1

    def _queue_folder(self, folder: Path, resolved: Path, prefix: str) -> None:
        """Queue a folder unless its real location was already reached."""
        if resolved not in self.visited:
            self.visited.add(resolved)
            self.pending.append((folder, prefix))


def summarize_skips(counter: Mapping[str, int]) -> dict[str, int]:
    """Non-zero skip counts as a plain dict, most frequent first (ties by name)."""
    items = [(reason, int(count)) for reason, count in counter.items() if count]
    return dict(sorted(items, key=lambda item: (-item[1], item[0])))


def batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of `items` of `size` (the last one shorter): a model's image batches."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
