"""One scene in memory: plan, paint, rasterise the labels exactly as cityscapesscripts does, and derive the truth."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from cityscapesscripts.helpers.labels import Label, labels, name2label
from PIL import Image, ImageDraw

from semcom_bench.datasets.synthcity.builder import SceneBuilder
from semcom_bench.datasets.synthcity.geometry import Camera, IntPolygon
from semcom_bench.datasets.synthcity.objects import draw_hood, plan_things
from semcom_bench.datasets.synthcity.street import Street, draw_blocks, draw_sky_and_ground
from semcom_bench.datasets.synthcity.textures import Painter
from semcom_bench.datasets.synthcity.truth import (
    GENERATOR_NAME,
    GENERATOR_VERSION,
    ThingRecord,
    build_truth,
    legs_in_view,
)
from semcom_bench.errors import SemcomError

MIN_SIZE = (64, 128)
MAX_SIZE = (4096, 8192)
MAX_INDEX = 999_999  # frame numbers have six digits
SENSOR_NOISE = 5.0  # grey levels of the additive sensor noise
CITY_PATTERN = re.compile(r"[A-Za-z0-9-]+")  # no "_": it separates the fields of a Cityscapes image id


def _color_lut() -> np.ndarray:
    lut = np.zeros((256, 4), np.uint8)
    for label in labels:
        if 0 <= label.id < 256:
            lut[label.id] = (*label.color, 255)
    return lut


COLOR_LUT = _color_lut()


@dataclass(frozen=True)
class RenderedScene:
    """Everything one image's files hold, in memory."""

    image_id: str
    image: np.ndarray  # (H, W, 3) uint8 RGB
    label_ids: np.ndarray  # (H, W) uint8 Cityscapes label ids
    instance_ids: np.ndarray  # (H, W) uint16, label_id * 1000 + k for instances, label id elsewhere
    color: np.ndarray  # (H, W, 4) uint8 RGBA label colours, as gtFine_color.png
    polygons: dict[str, Any]  # the gtFine_polygons.json document
    truth: dict[str, Any]  # the truth sidecar document


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def check_size(size: object) -> tuple[int, int]:
    """Validate ``(height, width)``; raises :class:`SemcomError` with the allowed range."""
    if not (isinstance(size, (tuple, list)) and len(size) == 2 and all(_is_int(v) for v in size)):
        raise SemcomError(f"size must be a (height, width) pair of integers, got {size!r}", hint="e.g. size=(256, 512)")
    h, w = int(size[0]), int(size[1])
    if h < MIN_SIZE[0] or w < MIN_SIZE[1]:
        hint = f"use at least {MIN_SIZE[0]}x{MIN_SIZE[1]} (height x width)"
        raise SemcomError(f"size {h}x{w} is too small", hint=hint)
    if h > MAX_SIZE[0] or w > MAX_SIZE[1]:
        raise SemcomError(f"size {h}x{w} is too large", hint=f"use at most {MAX_SIZE[0]}x{MAX_SIZE[1]}")
    if h > w:
        raise SemcomError(
            f"size {h}x{w} is portrait; street scenes are landscape", hint=f"size is (height, width): try ({w}, {h})"
        )
    return h, w


def check_seed(seed: object) -> int:
    """Validate a generator seed (``default_rng`` takes non-negative integers only)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SemcomError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_name(kind: str, value: object, pattern: re.Pattern[str]) -> str:
    """Validate a split or city name, which becomes part of paths and image ids."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise SemcomError(f"{kind} {value!r} is not a valid name", hint=f"use only characters {pattern.pattern}")
    return value


def image_id_of(city: str, index: int) -> str:
    """Cityscapes image id ``{city}_{seq:06d}_{frame:06d}`` with sequence 0 and frame ``index``."""
    return f"{city}_{0:06d}_{index:06d}"


def label_of(name: str) -> tuple[Label, bool]:
    """The label a polygon name stands for and whether it is a crowd group, as cityscapesscripts' converters read it."""
    if name in name2label:
        return name2label[name], False
    if name.endswith("group") and name[: -len("group")] in name2label:
        return name2label[name[: -len("group")]], True
    raise ValueError(f"label {name!r} is not a Cityscapes label")


def rasterize(polygons: list[tuple[str, IntPolygon]], size: tuple[int, int]) -> tuple[np.ndarray, list[int]]:
    """The instanceIds map and each polygon's value, drawn exactly as ``json2instanceImg`` (encoding ``ids``) draws.

    Same PIL call on a mode ``I`` image, same order, same per-class instance counter (occluded instances still take
    a number); the labelIds map follows as ``value // 1000`` for instances and ``value`` elsewhere.
    """
    h, w = size
    img = Image.new("I", (w, h), name2label["unlabeled"].id)
    draw = ImageDraw.Draw(img)
    counters: dict[str, int] = defaultdict(int)
    values = []
    for name, poly in polygons:
        label, group = label_of(name)
        value = label.id
        if label.hasInstances and not group:
            value = label.id * 1000 + counters[label.name]
            counters[label.name] += 1
        draw.polygon(poly, fill=value)
        values.append(value)
    return np.asarray(img, dtype=np.int32), values


def render_scene(seed: int, index: int, size: tuple[int, int], *, city: str = "synthcity") -> RenderedScene:
    """Render image ``index`` of the dataset with ``seed`` in memory, without touching the disk.

    The image depends only on ``(seed, index, size)`` (its generator is ``np.random.default_rng([seed, index])``), so
    it is identical whatever the dataset size or generation order; ``city`` only names it.
    """
    seed = check_seed(seed)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index <= MAX_INDEX:
        raise SemcomError(f"index must be an integer in 0..{MAX_INDEX}, got {index!r}")
    h, w = check_size(size)
    check_name("city", city, CITY_PATTERN)
    rng = np.random.default_rng([seed, int(index)])
    cam = Camera.sample(rng, (h, w))
    hood_top = h * (1.0 - rng.uniform(0.06, 0.11))
    z_min = cam.depth_of_row(hood_top) + 0.5
    street = Street.sample(rng, z_min)
    things = plan_things(rng, street, z_min)
    b = SceneBuilder(cam, Painter((h, w), rng), rng)
    crosswalk = draw_sky_and_ground(b, street)
    draw_blocks(b, street)
    for thing in sorted(things, key=lambda t: -t.z):  # far to near; the sort is stable for equal depths
        thing.draw(b)
    draw_hood(b, hood_top)

    instance_ids, values = rasterize(b.polygons, (h, w))
    records: list[ThingRecord] = b.records
    for rec in records:
        rec.instance_id = values[rec.polygon_index]
        if rec.legs_box is not None:
            alone, _ = rasterize([b.polygons[rec.polygon_index]], (h, w))
            rec.legs_seen = legs_in_view(rec, alone >= 1000, instance_ids)  # its instance value
    label_ids = np.where(instance_ids >= 1000, instance_ids // 1000, instance_ids).astype(np.uint8)
    image_id = image_id_of(city, int(index))
    generator = {"name": GENERATOR_NAME, "version": GENERATOR_VERSION, "seed": seed, "index": int(index),
                 "size": [h, w]}
    camera = {"horizon_y": cam.horizon_y, "focal_px": cam.focal_px, "height_m": cam.height_m,
              "vanishing_x": cam.vanishing_x}
    return RenderedScene(
        image_id=image_id,
        image=b.painter.finish(SENSOR_NOISE),
        label_ids=label_ids,
        instance_ids=instance_ids.astype(np.uint16),
        color=COLOR_LUT[label_ids],
        polygons={
            "imgHeight": h,
            "imgWidth": w,
            "objects": [{"label": name, "polygon": [list(p) for p in poly]} for name, poly in b.polygons],
        },
        truth=build_truth(image_id, generator, camera, crosswalk, records, instance_ids),
    )
