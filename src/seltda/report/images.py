"""Embedded images of the report: thumbnails and plots as `data:` URIs (the HTML stays self-contained)."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from PIL import Image

from seltda.core.images import try_load_image
from seltda.core.records import resolve_image_path

THUMB_SIZE = 128


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


class Thumbnails:
    """Thumbnails of a run's images, each loaded once."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[str | None, str | None]] = {}

    def get(self, root: Path | None, relative: Any, no_root: str) -> tuple[str | None, str | None]:
        """``(data URI, None)`` for the image, or ``(None, why not)``; `no_root`: why the root is unknown."""
        if root is None:
            return None, no_root
        if not isinstance(relative, str):
            return None, "no image path"
        try:
            path = resolve_image_path(root, relative)
        except ValueError as exc:
            return None, str(exc)
        if path not in self._cache:
            image, reason = try_load_image(path)
            self._cache[path] = (thumbnail_uri(image), None) if image else (None, f"image {reason}")
        return self._cache[path]


def thumbnail_uri(image: Image.Image) -> str:
    """Small images are scaled up by an integer factor (crisp pixels), big ones down to ``THUMB_SIZE``."""
    side = max(image.size)
    if side <= THUMB_SIZE:
        factor = max(1, THUMB_SIZE // side)
        image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    else:
        image = image.copy()
        image.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", optimize=True)
    return data_uri(buffer.getvalue())
