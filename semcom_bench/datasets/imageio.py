"""Image decoding and resizing shared by the adapters; decode failures become :class:`CorruptFileError`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from semcom_bench.errors import CorruptFileError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def _open_fully(path: Path) -> Image.Image:
    try:
        img = Image.open(path)
        img.load()  # force the full decode now: a truncated file fails here, not later
    except FileNotFoundError:
        raise CorruptFileError(f"{path} does not exist") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as err:
        raise CorruptFileError(
            f"cannot decode {path}: {err}", hint="the file is truncated or not an image; re-extract or re-download it"
        ) from None
    return img


def read_rgb(path: Path) -> np.ndarray:
    """Decode an image file as ``(H, W, 3)`` ``uint8`` RGB, upright by its EXIF orientation (phone photos)."""
    return np.asarray(ImageOps.exif_transpose(_open_fully(path)).convert("RGB"))


def read_label_map(path: Path) -> np.ndarray:
    """Decode an 8- or 16-bit single-channel label PNG as ``(H, W)`` ``int32`` without rescaling values."""
    img = _open_fully(path)
    if img.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L"):
        raise CorruptFileError(f"{path} has mode {img.mode}, expected a single-channel label image")
    return np.asarray(img).astype(np.int32)


def resize_rgb(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an ``(H, W, 3)`` image to ``size = (H', W')`` with bilinear filtering."""
    if image.shape[:2] == size:
        return image
    return np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.Resampling.BILINEAR))


def resize_nearest(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an ``(H, W)`` label map: every output value exists in the input."""
    if label.shape == size:
        return label
    h, w = label.shape
    rows = np.minimum(((np.arange(size[0]) + 0.5) * h / size[0]).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(size[1]) + 0.5) * w / size[1]).astype(np.int64), w - 1)
    return label[rows[:, None], cols[None, :]]


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``"HxW"`` (e.g. ``"256x512"``) into ``(H, W)``."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size {text!r} is not HxW, e.g. 256x512") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"size {text!r} must be positive")
    return h, w
