"""The `geometric` relation predictor: support and lane relations from masks, boxes and the semantic map.

Positions come from :mod:`semcom_bench.annotate.geometry` (ground plane, contacts, kerbs, paint); traffic keeps right.

* **Surface**: the ground class at the object's lateral offsets just in front of it. A person on road rows showing
  zebra stripes is on the ``crosswalk``.
* **Vehicles** (car, truck, bus, caravan, trailer, train): on anything but road, ``parked on <surface>``. On the
  road, ``driving on road`` plus ``in ego lane`` (centred within :data:`EGO_HALF_WIDTH_M` of the camera, which
  drives in a lane: never parked), ``oncoming`` (left of it) or, right of it, ``in adjacent lane`` unless parked at
  the kerb (``parked on road``): no solid line between it and the kerb, and its centre within :data:`KERB_LANE_M`
  of the kerb, or within a parking lane's width when a solid line runs on its left. A vehicle whose contact is
  hidden behind another vehicle shares that one's relations (a parked row), unless it stands in a lane further out
  (:func:`_outward_of`) or shows beside the car ahead in the ego lane.
* **People**: ``walking on`` or ``standing on`` the surface, by the spread of the feet (:func:`posture`), where the
  lower legs are seen; otherwise just ``on`` the surface. Walking (or not seen) on the road or a crosswalk adds
  ``crossing road``; people on a crosswalk are walking.
* **Riders**: ``riding <bicycle or motorcycle>`` (:func:`pair_riders`) and ``on <surface>``, read under the
  two-wheeler; a two-wheeler is ``on <surface>``.
* **Between road users**, with or without a semantic map: ``in front of`` / ``behind`` (nearer by a margin and
  before part of the other in view) and ``beside`` (as deep, sides close), to the nearest one only; see
  :mod:`semcom_bench.annotate.relations.spatial`.

What cannot be seen, and the default taken (the cost is measured by ``benchmarks/annotate_quality.py``):
a person's posture when the lower legs are near a possible occluder, cut by the border or under
:data:`MIN_POSTURE_ROWS` rows tall (none: ``on``); the surface under hidden feet (``sidewalk``), under a hidden
vehicle (``road``) or a hidden cyclist (``road``); whether a vehicle stopped in a driving lane is parked (taken as
driving). Without a semantic map no surface is known: only lanes and ``riding`` are predicted.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from cityscapesscripts.helpers.labels import name2label

from semcom_bench.annotate.base import RELATION_PREDICTORS, Detection, RelationPredictor, Scene, Triplet
from semcom_bench.annotate.geometry import TWO_WHEELERS, VEHICLES, SceneGeometry, analyze
from semcom_bench.annotate.relations.spatial import spatial_triplets

EGO_HALF_WIDTH_M = 1.4  # a lane is 2.75-3.75 m wide and the camera rides near its middle
KERB_LANE_M = 1.5  # a car parked in a (2.0-2.5 m) kerb lane is centred within 1.25 m of the kerb; 0.25 m to read it
OTHER_LANE_M = 0.75  # vehicles in one lane keep within 0.3 m of its centre line: further aside is another lane
PARKING_LANE_M = 2.5  # the widest kerb parking lane, its edge line included
KERB_PAINT_M = 0.2  # bright paint this close to the kerb is the kerbstone itself, not a line
FEET_ROWS = 0.05  # the lowest share of a person's rows that shows the feet
FEET_SPREAD = 0.2  # feet spread wider than this share of the body height: a stride
FEET_GAP = 0.065  # ... or a gap between them wider than this share
LEGS_SHARE = 0.3  # the lowest share of a person's rows, its lower legs, that shows whether it walks or stands
LEG_CLEARANCE = 1  # pixels around a person's legs that must be free of possible occluders to judge the posture
THIN_STUFF = np.array([name2label[n].id for n in ("pole", "polegroup", "traffic light", "traffic sign")])
MIN_POSTURE_ROWS = 8  # a smaller person's legs are a few pixels: the posture is not seen
MIN_OVERLAP = 0.2  # share of the smaller box a rider and its two-wheeler overlap at least


def posture(mask: np.ndarray, bbox: tuple[float, float, float, float]) -> str | None:
    """``"walking"`` or ``"standing"`` from a person's mask: are the feet spread by a stride? ``None`` under two rows.

    Standing, the feet are about 0.15-0.18 body heights apart at their outer edges with a narrow gap between them;
    a stride (front or side view) spreads them to over 0.2 body heights and opens the gap.
    """
    x0, y0, x1, y1 = (int(round(c)) for c in bbox)
    own = mask[max(y0, 0) : y1, max(x0, 0) : x1]
    rows = np.flatnonzero(own.any(axis=1))
    if rows.size < 2:
        return None
    own = own[rows[0] : rows[-1] + 1]
    tall = own.shape[0]
    feet = own[tall - max(1, round(FEET_ROWS * tall)) :]  # the soles and ankles
    spread = gap = 0
    for row in feet:
        cols = np.flatnonzero(row)
        if cols.size:
            spread = max(spread, int(cols[-1] - cols[0]))  # between outermost pixel centres
            gap = max(gap, int(cols[-1] - cols[0] + 1 - cols.size))
    walking = spread / (tall - 1) > FEET_SPREAD or gap / tall > FEET_GAP
    return "walking" if walking else "standing"


def legs_in_view(geo: SceneGeometry, obj: Detection) -> bool:
    """Whether nothing that may stand in front of them (an instance no farther away, a pole, a sign, the image
    border) comes within :data:`LEG_CLEARANCE` pixels of either side of the lower legs (:data:`LEGS_SHARE` of the
    object's rows)."""
    index = geo.scene.objects.index(obj)
    x0, y0, x1, y1 = (int(round(c)) for c in obj.bbox)
    height, width = geo.owner.shape
    if x0 - LEG_CLEARANCE < 0 or x1 + LEG_CLEARANCE > width:
        return False
    rows = slice(y1 - max(1, round(LEGS_SHARE * (y1 - y0))), y1)
    own = geo.owner[rows, x0:x1] == index
    band = slice(x0 - LEG_CLEARANCE, x1 + LEG_CLEARANCE)
    near = geo.owner[rows, band]
    # Only an instance standing at least as near as the person can hide its legs.
    feet = geo.footprints[obj.object_id].v
    nearer = np.array([o.object_id in geo.footprints and geo.footprints[o.object_id].v >= feet
                       for o in geo.scene.objects] + [False])
    blocking = (near >= 0) & (near != index) & nearer[near]
    if geo.scene.semantic is not None:
        blocking |= np.isin(geo.scene.semantic[rows, band], THIN_STUFF)
    # Each row's own extent, widened by the clearance on both sides.
    spans = np.zeros_like(blocking)
    for r in np.flatnonzero(own.any(axis=1)):
        cols = np.flatnonzero(own[r])
        spans[r, cols[0] : cols[-1] + 2 * LEG_CLEARANCE + 1] = True
    return not (blocking & spans).any()


def _at_kerb(geo: SceneGeometry, x: float) -> bool:
    """Is a vehicle centred at lateral ``x`` (right of the ego lane) standing in a kerb parking lane?

    A solid line between it and the kerb is the edge of the carriageway: it is in a driving lane. A solid line on
    its left is the edge of a parking lane: it parks if it is within such a lane's width of the kerb. Otherwise it
    parks if centred within :data:`KERB_LANE_M` of the kerb (a parked car keeps close to it).
    """
    kerb = geo.kerb_lateral(side=1)
    if kerb is None:
        return False
    solid = [m.x for m in geo.markings() if m.solid and kerb - m.x > KERB_PAINT_M]
    if any(x < m for m in solid):
        return False
    if any(x - PARKING_LANE_M <= m <= x - 0.5 for m in solid):
        return kerb - x <= PARKING_LANE_M - 0.5
    return kerb - x <= KERB_LANE_M


def _outward_of(geo: SceneGeometry, obj: Detection, occluder: int) -> bool:
    """Whether a vehicle whose ground contact ``occluder`` hides stands in a lane further out than the occluder's.

    It is at least as far as the occluder, so its visible centre placed at the occluder's depth gives the least
    lateral offset it can have: if even that lies over :data:`OTHER_LANE_M` further from the camera's axis than the
    occluder, it is in another lane (a car parked at the kerb behind one driving in the adjacent lane).
    """
    x0, _, x1, _ = obj.bbox
    least = geo.plane.lateral((x0 + x1) / 2.0, geo.contact(occluder).v)
    return bool((least - geo.lateral(occluder)) * np.sign(least) > OTHER_LANE_M)


def pair_riders(scene: Scene) -> dict[int, int]:
    """Rider id -> the id of the bicycle or motorcycle it rides, each two-wheeler at most once.

    The two-wheeler whose box overlaps the rider's most, or, where only a piece of it shows beside the rider, the
    nearest one within a rider's height of the rider's feet.
    """
    riders = [o for o in scene.objects if o.class_name == "rider"]
    wheels = [o for o in scene.objects if o.class_name in TWO_WHEELERS]
    candidates = []
    for rider in riders:
        x0, y0, x1, y1 = rider.bbox
        feet = ((x0 + x1) / 2.0, y1)
        for wheel in wheels:
            overlap = _overlap(rider.bbox, wheel.bbox)
            if overlap >= MIN_OVERLAP:
                candidates.append((1.0 + overlap, rider.object_id, wheel.object_id))
                continue
            wx0, wy0, wx1, wy1 = wheel.bbox
            gap = np.hypot(max(wx0 - feet[0], 0.0, feet[0] - wx1), max(wy0 - feet[1], 0.0, feet[1] - wy1))
            if gap <= y1 - y0:
                candidates.append((1.0 - gap / (y1 - y0), rider.object_id, wheel.object_id))
    pairs: dict[int, int] = {}
    for _, rider_id, wheel_id in sorted(candidates, reverse=True):
        if rider_id not in pairs and wheel_id not in pairs.values():
            pairs[rider_id] = wheel_id
    return pairs


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection of two boxes over the smaller one's area."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / smaller


@RELATION_PREDICTORS.register("geometric")
class GeometricRelationPredictor(RelationPredictor):
    """Support and lane triplets from the scene's geometry (no model, no network); see the module docstring."""

    name = "geometric"

    def predict(self, scene: Scene) -> list[Triplet]:
        geo = analyze(scene)
        riders = pair_riders(scene)
        vehicles = self._vehicles(geo, [o for o in scene.objects if o.class_name in VEHICLES])
        triplets: list[Triplet] = []
        for obj in scene.objects:
            if obj.object_id not in geo.footprints:
                continue  # no pixel: nothing to see
            if obj.class_name in VEHICLES:
                triplets += vehicles[obj.object_id]
            elif obj.class_name == "person":
                triplets += self._person(geo, obj)
            elif obj.class_name == "rider":
                wheel = riders.get(obj.object_id)
                if wheel is not None:
                    triplets.append(Triplet(obj.object_id, "riding", wheel, scene.object(wheel).class_name))
                triplets += self._on(geo, obj.object_id, wheel)
            elif obj.class_name in TWO_WHEELERS:
                rider = next((r for r, w in riders.items() if w == obj.object_id), None)
                triplets += self._on(geo, obj.object_id, rider)
        triplets += spatial_triplets(geo, riders)
        return triplets

    @staticmethod
    def _on(geo: SceneGeometry, object_id: int, partner: int | None) -> list[Triplet]:
        """``on <surface>`` of a rider or a two-wheeler, read under the two-wheeler or else the rider."""
        if geo.scene.semantic is None:
            return []
        ids = (object_id, partner) if geo.scene.object(object_id).class_name in TWO_WHEELERS else (partner, object_id)
        seen = [i for i in ids if i is not None and geo.contact(i).seen]
        surface = next((s for i in seen if (s := geo.surface(i)) is not None), None)
        return [Triplet(object_id, "on", None, surface or "road")]  # hidden: cyclists ride on the road

    def _vehicles(self, geo: SceneGeometry, vehicles: list[Detection]) -> dict[int, list[Triplet]]:
        """Triplets of every vehicle. One whose ground contact is hidden behind another vehicle shares that one's
        state (a parked car behind a parked car), unless it shows beside the car ahead in the ego lane."""
        found: dict[int, list[Triplet]] = {}
        hidden = []
        for obj in vehicles:
            if obj.object_id not in geo.footprints:
                continue
            if geo.contact(obj.object_id).seen:
                found[obj.object_id] = self._vehicle(geo, obj)
            else:
                hidden.append(obj)
        while hidden:
            ready = [o for o in hidden if geo.footprints[o.object_id].occluder in found]
            for obj in ready or hidden:  # none ready: the rest are read from what is seen of them
                occluder = geo.footprints[obj.object_id].occluder
                if not ready:
                    found[obj.object_id] = self._vehicle(geo, obj)
                elif _outward_of(geo, obj, occluder) or (
                    any(t.predicate == "in ego lane" for t in found[occluder])
                    and abs(geo.lateral(obj.object_id)) > EGO_HALF_WIDTH_M
                ):
                    # Seen beside the vehicle in front (in another lane): not behind it.
                    found[obj.object_id] = self._vehicle(geo, obj)
                else:
                    found[obj.object_id] = [replace(t, subject_id=obj.object_id) for t in found[occluder]]
                hidden.remove(obj)
        return found

    @staticmethod
    def _vehicle(geo: SceneGeometry, obj: Detection) -> list[Triplet]:
        """Triplets of one vehicle from its ground contact."""
        surface = geo.surface(obj.object_id)
        if geo.scene.semantic is not None and surface is None:
            surface = "road"  # the ground around it is hidden: vehicles are on the road unless seen elsewhere
        if surface not in (None, "road"):
            return [Triplet(obj.object_id, "parked on", None, surface)]
        x = geo.lateral(obj.object_id)
        if abs(x) <= EGO_HALF_WIDTH_M:
            lane = "in ego lane"  # the ego vehicle drives in a driving lane: what is ahead in it is not parked
        elif x < 0:
            lane = "oncoming"
        else:
            if surface == "road" and _at_kerb(geo, x):
                return [Triplet(obj.object_id, "parked on", None, "road")]
            lane = "in adjacent lane"
        lane_triplet = Triplet(obj.object_id, lane, None, "road")
        if surface is None:
            return [lane_triplet]
        return [Triplet(obj.object_id, "driving on", None, "road"), lane_triplet]

    @staticmethod
    def _person(geo: SceneGeometry, obj: Detection) -> list[Triplet]:
        if geo.scene.semantic is None:
            return []
        # Feet hidden behind something: pedestrians are on the sidewalk unless seen elsewhere.
        surface = (geo.surface(obj.object_id) if geo.contact(obj.object_id).seen else None) or "sidewalk"
        if surface == "road" and geo.on_crosswalk(obj.object_id):
            surface = "crosswalk"
        fp = geo.footprints[obj.object_id]
        seen = fp.grounded and fp.height_px >= MIN_POSTURE_ROWS and legs_in_view(geo, obj)
        state = None  # the posture is not seen: only the support is claimed
        if surface == "crosswalk":
            state = "walking"  # people on a zebra crossing are crossing it
        elif seen:
            mask = obj.mask if obj.mask is not None else geo.owner == geo.scene.objects.index(obj)
            state = posture(mask, obj.bbox)
        # Someone on the carriageway whose legs are hidden is more likely crossing than standing.
        triplets = [Triplet(obj.object_id, f"{state} on" if state else "on", None, surface)]
        if state != "standing" and surface in ("road", "crosswalk"):
            triplets.append(Triplet(obj.object_id, "crossing", None, "road"))
        return triplets
