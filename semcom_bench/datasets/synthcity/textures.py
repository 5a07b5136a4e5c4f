"""Textured painting of the RGB image: a per-process bank of noise textures, cropped and tinted per surface.

The bank is built once per process from a fixed seed (so every process paints the same bytes) and cached; each
surface crops it at an offset drawn from the image's own generator, so no two surfaces look alike while painting
costs one multiply per pixel instead of fresh noise.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from semcom_bench.datasets.synthcity.geometry import IntPolygon, Point

BANK_SHAPE = (512, 1024)
BANK_SEED = 20240601
Color = tuple[int, int, int]
Texture = Sequence[tuple[str, float]]  # (bank texture name, amplitude) pairs, summed


def jitter(rng: np.random.Generator, color: Color, amount: int) -> Color:
    """``color`` with each channel moved by up to ``amount`` levels."""
    r, g, b = (min(255, max(0, c + int(d))) for c, d in zip(color, rng.integers(-amount, amount + 1, 3), strict=True))
    return (r, g, b)


def _mirror(idx: np.ndarray, n: int) -> np.ndarray:
    """Indices folded back and forth over ``[0, n)``: a mirrored tiling has no seams, unlike a wrapped one."""
    idx = idx % (2 * n)
    return np.where(idx < n, idx, 2 * n - 1 - idx)


def _upsample(grid: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    img = Image.fromarray(grid.astype(np.float32), "F").resize((shape[1], shape[0]), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.float32)


def _normalise(a: np.ndarray) -> np.ndarray:
    """Zero mean, about unit range: 3 standard deviations map to +-1."""
    a = a - a.mean()
    return np.clip(a / (3.0 * a.std() + 1e-9), -1.0, 1.0).astype(np.float32)


def _fractal(rng: np.random.Generator, shape: tuple[int, int], cells: Sequence[int], persistence: float) -> np.ndarray:
    out = np.zeros(shape, np.float32)
    amp = 1.0
    for c in cells:
        out += amp * _upsample(rng.standard_normal((c, 2 * c)), shape)
        amp *= persistence
    return _normalise(out)


@functools.cache
def texture_bank() -> dict[str, np.ndarray]:
    """Grey ``float32`` textures in ``[-1, 1]`` of shape :data:`BANK_SHAPE`, keyed by name."""
    rng = np.random.default_rng(BANK_SEED)
    h, w = BANK_SHAPE
    white = rng.standard_normal(BANK_SHAPE).astype(np.float32)
    grain = _normalise(white + 0.5 * np.roll(white, 1, 0) + 0.5 * np.roll(white, 1, 1))
    cloud = _fractal(rng, BANK_SHAPE, (3, 6, 12, 24, 48, 96), 0.6)
    leaf = _normalise(np.tanh(2.5 * _fractal(rng, BANK_SHAPE, (24, 48, 96, 192), 0.8)) + 0.35 * grain)
    rows = np.arange(h)[:, None]
    cols = np.arange(w)[None, :]
    # paving: square slabs with dark joints; bricks: courses with staggered light mortar joints
    joints = ((rows % 9) == 0) | ((cols % 9) == 0)
    paving = _normalise(np.where(joints, -1.0, 0.0) + 0.45 * grain + 0.3 * cloud)
    mortar = ((rows % 5) == 0) | (((cols + 7 * ((rows // 5) % 2)) % 14) == 0)
    brick = _normalise(np.where(mortar, 1.0, 0.0) + 0.5 * grain + 0.3 * cloud)
    return {"grain": grain, "cloud": cloud, "leaf": leaf, "paving": paving, "brick": brick}


@dataclass
class Layer:
    """A textured patch being painted; details land inside the owning polygon's mask only."""

    image: Image.Image
    draw: ImageDraw.ImageDraw
    x0: int
    y0: int

    def polygon(self, points: Sequence[Point], fill: Color) -> None:
        """Fill a polygon given in image coordinates."""
        self.draw.polygon([(x - self.x0, y - self.y0) for x, y in points], fill=fill)

    def line(self, points: Sequence[Point], fill: Color, width: int = 1) -> None:
        """Draw a polyline given in image coordinates."""
        self.draw.line([(x - self.x0, y - self.y0) for x, y in points], fill=fill, width=width)


class Painter:
    """Paints the RGB image of one scene in drawing order."""

    def __init__(self, size: tuple[int, int], rng: np.random.Generator) -> None:
        self.height, self.width = size
        self.image = Image.new("RGB", (self.width, self.height))
        self.draw = ImageDraw.Draw(self.image)
        self._rng = rng
        self._bank = texture_bank()

    def crop(self, name: str, h: int, w: int) -> np.ndarray:
        """An ``(h, w)`` window of a bank texture at a random offset, mirror-tiled for windows larger than the bank."""
        tex = self._bank[name]
        bh, bw = tex.shape
        oy = int(self._rng.integers(0, bh - h + 1 if h <= bh else bh))
        ox = int(self._rng.integers(0, bw - w + 1 if w <= bw else bw))
        if h <= bh and w <= bw:
            return tex[oy : oy + h, ox : ox + w]  # a view: no copy
        return tex[np.ix_(_mirror(oy + np.arange(h), bh), _mirror(ox + np.arange(w), bw))]

    def surface(self, h: int, w: int, color: Color, texture: Texture, shade: tuple[float, float]) -> np.ndarray:
        """``(h, w, 3)`` ``uint8`` patch: ``color`` modulated by the textures and a top-to-bottom brightness ramp."""
        gain = np.ones((h, w), np.float32)
        for name, amp in texture:
            gain += amp * self.crop(name, h, w)
        if shade != (1.0, 1.0):
            gain *= np.linspace(shade[0], shade[1], h, dtype=np.float32)[:, None]
        rgb = gain[:, :, None] * np.asarray(color, np.float32)
        return np.clip(rgb, 0, 255, out=rgb).astype(np.uint8)

    @contextmanager
    def layer(
        self, polygon: IntPolygon, color: Color, texture: Texture = (), shade: tuple[float, float] = (1.0, 1.0)
    ) -> Iterator[Layer]:
        """Paint ``polygon`` with a textured surface; details drawn on the yielded layer stay inside the polygon."""
        xs = [p[0] for p in polygon]
        ys = [p[1] for p in polygon]
        x0, y0 = min(xs), min(ys)
        w, h = max(xs) - x0 + 1, max(ys) - y0 + 1
        mask = Image.new("L", (w, h), 0)
        ImageDraw.Draw(mask).polygon([(x - x0, y - y0) for x, y in polygon], fill=255)
        patch = Image.fromarray(self.surface(h, w, color, texture, shade))
        layer = Layer(patch, ImageDraw.Draw(patch), x0, y0)
        yield layer
        self.image.paste(patch, (x0, y0), mask)

    def fill(
        self, polygon: IntPolygon, color: Color, texture: Texture = (), shade: tuple[float, float] = (1.0, 1.0)
    ) -> None:
        """Paint ``polygon`` with a textured surface and no details."""
        with self.layer(polygon, color, texture, shade):
            pass

    def polygon(self, points: Sequence[Point], fill: Color) -> None:
        """A flat paint-only polygon (markings, stripes); PIL clips it to the image."""
        self.draw.polygon(list(points), fill=fill)

    def darken(self, points: Sequence[Point], strength: float) -> None:
        """Blend black into a region (contact shadows), ``strength`` in ``[0, 1]``."""
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        x0 = max(int(min(xs)), 0)
        y0 = max(int(min(ys)), 0)
        x1 = min(int(max(xs)) + 2, self.width)
        y1 = min(int(max(ys)) + 2, self.height)
        if x1 <= x0 or y1 <= y0:
            return
        mask = Image.new("L", (x1 - x0, y1 - y0), 0)
        ImageDraw.Draw(mask).polygon([(x - x0, y - y0) for x, y in points], fill=int(255 * strength))
        self.image.paste((0, 0, 0), (x0, y0, x1, y1), mask)

    def finish(self, noise: float) -> np.ndarray:
        """Soften edges like a lens does and add sensor noise; returns the final ``(H, W, 3)`` ``uint8`` image."""
        img = np.asarray(self.image.filter(ImageFilter.SMOOTH), dtype=np.float32)
        img += noise * self.crop("grain", self.height, self.width)[:, :, None]
        return np.clip(img, 0, 255).astype(np.uint8)
