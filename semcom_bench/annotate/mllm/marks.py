"""Set-of-mark prompting: the image with a numbered box around every object, ready to send as a data URL.

Numbers run 1..K over the objects sorted by ``object_id``, so the same scene always gets the same numbers whatever
the order of ``Scene.objects``; :attr:`MarkedImage.object_ids` maps a number back to its object.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from semcom_bench.annotate.base import Detection, Scene

JPEG_QUALITY = 90
"""JPEG keeps a 2048x1024 street photo near 0.5 MB (PNG: ~4 MB) and the drawn numbers stay legible at this quality."""

# Saturated colours that stand out from asphalt, sky and foliage; the tag text is black or white, whichever reads.
_PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (0, 200, 255), (255, 215, 0), (255, 0, 255), (0, 255, 0),
    (255, 128, 0), (128, 0, 255), (0, 255, 170), (255, 105, 180), (255, 255, 255),
)


@dataclass(frozen=True)
class MarkedImage:
    """The encoded marked image and the numbering drawn on it."""

    jpeg: bytes
    object_ids: dict[int, int]  # number drawn -> Detection.object_id
    width: int
    height: int

    @property
    def data_url(self) -> str:
        """The image as a ``data:image/jpeg;base64,...`` URL, the form the chat API takes inline."""
        return "data:image/jpeg;base64," + base64.b64encode(self.jpeg).decode("ascii")


def numbered(scene: Scene) -> list[tuple[int, Detection]]:
    """``(number, detection)`` pairs, numbers 1..K over the objects sorted by ``object_id``."""
    return list(enumerate(sorted(scene.objects, key=lambda d: d.object_id), start=1))


def mark(scene: Scene) -> MarkedImage:
    """Draw every object's box and number on a copy of ``scene.image`` and encode it as JPEG."""
    image = Image.fromarray(np.ascontiguousarray(scene.image, dtype=np.uint8), mode="RGB")
    draw = ImageDraw.Draw(image)
    short_side = min(image.size)
    line = max(2, short_side // 256)
    font = _font(max(12, short_side // 40))
    for number, det in numbered(scene):
        colour = _PALETTE[(number - 1) % len(_PALETTE)]
        x0, y0, x1, y1 = _clamped_box(det.bbox, image.width, image.height)
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=line)
        _tag(draw, str(number), (x0, y0), colour, font, image.size)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    ids = {number: det.object_id for number, det in numbered(scene)}
    return MarkedImage(jpeg=buffer.getvalue(), object_ids=ids, width=image.width, height=image.height)


def _clamped_box(bbox: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """Half-open pixel box -> inclusive corners inside the image (PIL draws inclusive rectangles)."""
    x0, y0, x1, y1 = (int(round(v)) for v in bbox)
    x0, y0 = min(max(x0, 0), width - 1), min(max(y0, 0), height - 1)
    x1, y1 = min(max(x1 - 1, x0), width - 1), min(max(y1 - 1, y0), height - 1)
    return x0, y0, x1, y1


def _tag(
    draw: ImageDraw.ImageDraw,
    text: str,
    corner: tuple[int, int],
    colour: tuple[int, int, int],
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    size: tuple[int, int],
) -> None:
    """A filled label with ``text`` just above the box's top-left corner, or inside it at the image's top edge."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = 2
    w, h = right - left + 2 * pad, bottom - top + 2 * pad
    x = min(corner[0], size[0] - w)
    y = corner[1] - h if corner[1] >= h else corner[1]
    draw.rectangle((x, y, x + w - 1, y + h - 1), fill=colour)
    luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    draw.text((x + pad - left, y + pad - top), text, fill=(0, 0, 0) if luminance > 128 else (255, 255, 255), font=font)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Loaded per image (microseconds): a font object shared by labelling threads is not known to be thread-safe.
    try:
        return ImageFont.load_default(size=size)
    except ImportError:  # Pillow built without FreeType: the fixed bitmap font still works, only smaller
        return ImageFont.load_default()
