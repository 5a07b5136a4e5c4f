"""Hand-built street scenes on a known camera, for the tests of the geometric stages (relations, labelers).

A straight road (lateral -5..5 m) between sidewalks (3.5 m) and terrain, seen by a pitch-free pinhole camera with the
focal length the geometry assumes (``NOMINAL_FOCAL``), so depths read back exactly. Objects are drawn as polygons on
the ground at ``(x, z)`` metres; the semantic map labels their pixels with their class, as Cityscapes does.
"""

from __future__ import annotations

import numpy as np
from cityscapesscripts.helpers.labels import name2label
from PIL import Image, ImageDraw

from semcom_bench.annotate.base import Detection, Scene
from semcom_bench.annotate.geometry import NOMINAL_FOCAL
from semcom_bench.datasets.synthcity.geometry import convex_hull

H, W = 200, 400
HORIZON, VANISHING_X = 80.0, 200.0
FOCAL = NOMINAL_FOCAL * W
CAM_HEIGHT = 1.3
ROAD = (-5.0, 5.0)
SIDEWALK_M = 3.5
COLORS = {"road": (100, 100, 104), "sidewalk": (160, 158, 150), "terrain": (90, 110, 60), "sky": (170, 200, 230)}
PAINT = (230, 230, 224)


def project(x: float, z: float, y: float = 0.0) -> tuple[float, float]:
    """Pixel ``(u, v)`` of the point ``x`` m right, ``y`` m up, ``z`` m ahead."""
    return VANISHING_X + FOCAL * x / z, HORIZON + FOCAL * (CAM_HEIGHT - y) / z


def ground(crosswalk: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(semantic, image)`` of the empty street; ``crosswalk`` paints zebra stripes between two depths."""
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    below = v > HORIZON
    x = np.where(below, (u - VANISHING_X) * CAM_HEIGHT / np.maximum(v - HORIZON, 1e-9), 0.0)
    z = np.where(below, FOCAL * CAM_HEIGHT / np.maximum(v - HORIZON, 1e-9), np.inf)
    names = np.full((H, W), "sky", dtype=object)
    names[below] = "terrain"
    names[below & (np.abs(x) <= ROAD[1] + SIDEWALK_M)] = "sidewalk"
    names[below & (x >= ROAD[0]) & (x <= ROAD[1])] = "road"
    semantic = np.zeros((H, W), np.uint8)
    image = np.zeros((H, W, 3), np.uint8)
    for name, color in COLORS.items():
        semantic[names == name] = name2label[name].id
        image[names == name] = color
    if crosswalk is not None:
        stripes = (names == "road") & (z >= crosswalk[0]) & (z <= crosswalk[1]) & (np.mod(x - ROAD[0], 1.0) < 0.5)
        image[stripes] = PAINT
    return semantic, image


def polygon_mask(points: list[tuple[float, float]]) -> np.ndarray:
    canvas = Image.new("L", (W, H), 0)
    ImageDraw.Draw(canvas).polygon([(round(u), round(v)) for u, v in points], fill=1)
    return np.asarray(canvas, dtype=bool)


def vehicle_mask(x: float, z: float, width: float = 1.8, height: float = 1.5, length: float = 0.0) -> np.ndarray:
    """A box vehicle centred at ``x`` whose back is ``z`` m ahead: its rear face and, with a ``length``, the flank
    the camera sees."""
    corners = [project(x + dx, z + dz, y) for dx in (-width / 2, width / 2) for dz in (0.0, length) for y in (0, height)]
    return polygon_mask(convex_hull(corners))


def person_mask(x: float, z: float, spread: float, height: float = 1.75, lift: float = 0.0) -> np.ndarray:
    """A person seen from the front, feet ``lift`` m above the ground; ``spread`` opens the legs (0 standing,
    0.03-0.06 walking, in body heights), as synthcity draws them."""
    u, v = project(x, z, lift)
    k = FOCAL * height / z

    def pt(px: float, py: float) -> tuple[float, float]:
        return u + px * k, v - py * k

    body = polygon_mask([pt(-0.12, 0.45), pt(0.12, 0.45), pt(0.12, 0.86), pt(-0.12, 0.86)])
    head = polygon_mask([pt(-0.06, 0.86), pt(0.06, 0.86), pt(0.06, 0.99), pt(-0.06, 0.99)])
    legs = [polygon_mask([pt(s * 0.0, 0.46), pt(s * 0.09, 0.46), pt(s * (0.075 + spread), 0.0),
                          pt(s * (0.02 + spread), 0.0)]) for s in (-1, 1)]
    return body | head | legs[0] | legs[1]


def bbox_of(mask: np.ndarray) -> tuple[float, float, float, float]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)


def make_scene(objects: list[tuple[int, str, np.ndarray]], crosswalk: tuple[float, float] | None = None,
               semantic: bool = True) -> Scene:
    """A scene of ``(object_id, class_name, mask)`` objects, later ones in front of earlier ones."""
    sem, image = ground(crosswalk)
    taken = np.zeros((H, W), bool)
    detections = []
    for object_id, class_name, mask in reversed(objects):  # nearest (last) first: it hides what is behind it
        visible = mask & ~taken
        if not visible.any():
            raise ValueError(f"object {object_id} is hidden or off the image")
        taken |= visible
        sem[visible] = name2label[class_name].id
        image[visible] = (40 + object_id % 7 * 20, 60, 90)
        detections.append(Detection(object_id, class_name, bbox_of(visible), visible, None, "gt"))
    return Scene("street", image, detections[::-1], sem if semantic else None)
