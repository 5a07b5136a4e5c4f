"""Spatial relations between road users, as seen from the ego camera (Visual Genome's sense of the words).

Road users (:data:`ROAD_USERS`) are placed on the ground plane of :mod:`semcom_bench.annotate.geometry`: depth
``z`` and lateral extent ``x0..x1`` of their ground contact. A rider is placed at the contact of the two-wheeler it
rides, or else at its feet lowered to the ground (they rest on the pedals); a rider and its two-wheeler get no
spatial relation with each other (they are ``riding``). Depths that differ by at most the margin
``max(DEPTH_MARGIN_M, DEPTH_SHARE * z)`` (``z`` the nearer one) count as equal.

* ``A in front of B`` and ``B behind A``: A is nearer than B by more than the margin and stands between the camera
  and part of B: A's mask touches B's (boxes are of visible pixels, so an object hidden at one side has its box end
  where the nearer one begins), or A's image box covers at least :data:`MIN_COVER` of the narrower box's width (B
  shows above or around A).
* ``A beside B`` and ``B beside A``: depths equal within the margin and a lateral gap of 0 to :data:`BESIDE_GAP_M`
  between their contacts' facing sides. Overlapping lateral extents put them in line, one ahead of the other by
  less than the margin: neither relation is claimed.

Sparse graph: each road user is ``in front of`` only its nearest candidate and ``beside`` only its nearest neighbour
(3-D ground distance between contact centres; ties go to the earlier object); the converse triplets are added, so
one may be ``behind`` or ``beside`` several. Objects without a usable depth get none: no pixel, a ground contact
that is hidden and cannot be inferred (``Contact.seen`` false), or one within :data:`MIN_ROWS_BELOW` rows of the
horizon. Without a semantic map the geometry's camera comes from object sizes or nominal values; depth order, read
from contact rows, still holds there, while the metric margins carry that camera's error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from semcom_bench.annotate.base import Detection, Triplet
from semcom_bench.annotate.geometry import (
    HUMANS,
    MIN_ROWS_BELOW,
    RIDER_FEET_M,
    TWO_WHEELERS,
    VEHICLES,
    SceneGeometry,
)

ROAD_USERS = VEHICLES | HUMANS | TWO_WHEELERS
SPATIAL_PREDICATES = ("in front of", "behind", "beside")
DEPTH_MARGIN_M = 1.5  # road users abreast (people walking together, cars side by side) differ by about a stride
DEPTH_SHARE = 0.1  # far depths are coarse: a row spans z^2 / (focal * height), 1.3 m at 30 m on a 512-px-wide image
MIN_COVER = 0.25  # a sliver of overlap is a box's corner beside the other box, not one object before the other
BESIDE_GAP_M = 2.5  # a wider gap between the sides holds a lane (2.75-3.75 m): the two are not next to each other


@dataclass(frozen=True)
class _Place:
    """A road user on the ground: lateral extent ``x0..x1`` and depth ``z`` (metres); ``index`` in the scene's
    objects (its value in ``SceneGeometry.owner``)."""

    obj: Detection
    index: int
    x0: float
    x1: float
    z: float

    @property
    def x(self) -> float:
        return (self.x0 + self.x1) / 2.0


def _ground(geo: SceneGeometry, object_id: int, rider: bool) -> tuple[float, float, float] | None:
    """``(x0, x1, z)`` of the object's ground contact, or ``None`` when its depth cannot be told."""
    if object_id not in geo.footprints:
        return None
    c = geo.contact(object_id)
    if not c.seen or c.v - geo.plane.horizon_y < MIN_ROWS_BELOW:
        return None
    # A rider's feet are above the ground: its contact row reads too far by height / (height - feet).
    scale = (geo.plane.height_m - RIDER_FEET_M) / geo.plane.height_m if rider else 1.0
    return c.x0 * scale, c.x1 * scale, c.z * scale


def _place(geo: SceneGeometry, index: int, riders: Mapping[int, int]) -> _Place | None:
    """Where the scene's ``index``-th object stands: a rider where its two-wheeler does, if that one is placed."""
    obj = geo.scene.objects[index]
    wheel = riders.get(obj.object_id)
    at = _ground(geo, wheel, rider=False) if wheel is not None else None
    at = at or _ground(geo, obj.object_id, rider=obj.class_name == "rider")
    return _Place(obj, index, *at) if at is not None else None


def _cover(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Horizontal overlap of two boxes over the narrower one's width."""
    overlap = min(a[2], b[2]) - max(a[0], b[0])
    narrower = min(a[2] - a[0], b[2] - b[0])
    return overlap / narrower if overlap > 0 and narrower > 0 else 0.0


def _touching(owner: np.ndarray, a: _Place, b: _Place) -> bool:
    """Whether a visible pixel of ``a`` is a 4-neighbour of one of ``b`` (both lie where the boxes, grown by a pixel,
    meet)."""
    r0 = max(math.floor(max(a.obj.bbox[1], b.obj.bbox[1])) - 1, 0)
    r1 = min(math.ceil(min(a.obj.bbox[3], b.obj.bbox[3])) + 1, owner.shape[0])
    c0 = max(math.floor(max(a.obj.bbox[0], b.obj.bbox[0])) - 1, 0)
    c1 = min(math.ceil(min(a.obj.bbox[2], b.obj.bbox[2])) + 1, owner.shape[1])
    if r1 <= r0 or c1 <= c0:
        return False
    region = owner[r0:r1, c0:c1]
    mine, theirs = region == a.index, region == b.index
    return bool((mine[:, :-1] & theirs[:, 1:]).any() or (mine[:, 1:] & theirs[:, :-1]).any()
                or (mine[:-1] & theirs[1:]).any() or (mine[1:] & theirs[:-1]).any())


def spatial_triplets(geo: SceneGeometry, riders: Mapping[int, int]) -> list[Triplet]:
    """``in front of``, ``behind`` and ``beside`` triplets between the road users of ``geo.scene`` (see the module
    docstring); ``riders`` maps a rider's id to its two-wheeler's (``geometric.pair_riders``)."""
    places = [p for i, o in enumerate(geo.scene.objects)
              if o.class_name in ROAD_USERS and (p := _place(geo, i, riders)) is not None]
    if len(places) < 2:
        return []
    paired = {frozenset(pair) for pair in riders.items()}
    found: dict[tuple[int, str, int], Triplet] = {}

    def add(a: _Place, predicate: str, b: _Place) -> None:
        key = (a.obj.object_id, predicate, b.obj.object_id)
        found.setdefault(key, Triplet(a.obj.object_id, predicate, b.obj.object_id, b.obj.class_name))

    for a in places:
        ahead_of: list[_Place] = []
        abreast: list[_Place] = []
        for b in places:
            pair = frozenset((a.obj.object_id, b.obj.object_id))
            if b is a or pair in paired:
                continue
            margin = max(DEPTH_MARGIN_M, DEPTH_SHARE * min(a.z, b.z))
            if b.z - a.z > margin:
                if _cover(a.obj.bbox, b.obj.bbox) >= MIN_COVER or _touching(geo.owner, a, b):
                    ahead_of.append(b)
            elif abs(b.z - a.z) <= margin and 0.0 <= max(b.x0 - a.x1, a.x0 - b.x1) <= BESIDE_GAP_M:
                abreast.append(b)
        for candidates, predicate, converse in ((ahead_of, "in front of", "behind"), (abreast, "beside", "beside")):
            if candidates:
                b = min(candidates, key=lambda p: math.hypot(p.x - a.x, p.z - a.z))
                add(a, predicate, b)
                add(b, converse, a)
    return list(found.values())
