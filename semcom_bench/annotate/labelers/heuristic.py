"""The `heuristic` labeler: SA-OOSC's importance rules (section II) written out, for use without an MLLM.

Every object falls into one *situation*, read from the scene graph (the triplets) and its depth (from the
ground-plane geometry of :mod:`semcom_bench.annotate.geometry`):

=================  =========================================================================================
``ego``            a vehicle ``in ego lane``: in the ego vehicle's path
``adjacent``       a vehicle ``in adjacent lane`` (same direction)
``oncoming``       a vehicle marked ``oncoming``
``parked``         a vehicle ``parked on`` anything
``vehicle``        a vehicle whose lane is not known
``on_road``        a person or rider on the road or a crosswalk, or crossing the road
``off_road``       a person or rider anywhere else (sidewalk, parking, terrain, unknown)
``other``          any other class (a two-wheeler takes its rider's tier instead)
=================  =========================================================================================

Each task has a rule table :data:`RULES` mapping a situation to ``(near tier, far tier, near limit in metres)``:
an object closer than the limit gets the near tier. Tasks without a table use :data:`GENERIC_RULES`, a general
driving rule set: road users in or entering the ego vehicle's path matter most, other moving traffic less, parked
vehicles, people off the road and everything else least (it is the vehicle-following table, which covers both
vehicles and people).

The vehicle rows follow SA-OOSC's worked example (section II, Fig. 2): "the vehicle in the same lane ahead of the
ego-vehicle is assigned 'high importance', the oncoming vehicle in the opposite lane at a distance is assigned
'medium importance', while the vehicle parked at the roadside is assigned 'low importance'" (3, 2, 1). So an
oncoming vehicle is medium (2) at any distance, far ones included; only parked vehicles are low whatever their
depth. The synthcity truth (:mod:`semcom_bench.datasets.synthcity.truth`) applies the same rules.
"""

from __future__ import annotations

from collections import defaultdict

from semcom_bench.annotate.base import LABELERS, Labeler, LabelResult, ObjectLabel, Scene, Triplet
from semcom_bench.annotate.geometry import HUMANS, RIDER_FEET_M, TWO_WHEELERS, VEHICLES, SceneGeometry, analyze
from semcom_bench.tasks import Task

LANES = {"in ego lane": "ego", "in adjacent lane": "adjacent", "oncoming": "oncoming"}
ROAD_SURFACES = frozenset({"road", "crosswalk"})

Rule = tuple[int, int, float]
GENERIC_RULES: dict[str, Rule] = {
    "ego": (3, 2, 30.0),
    "adjacent": (2, 1, 30.0),
    "oncoming": (2, 2, 0.0),  # SA-OOSC Fig. 2: "the oncoming vehicle in the opposite lane at a distance" is medium
    "parked": (1, 1, 0.0),
    "vehicle": (2, 1, 30.0),
    "on_road": (3, 2, 30.0),
    "off_road": (1, 1, 0.0),
    "other": (1, 1, 0.0),
}
RULES: dict[str, dict[str, Rule]] = {
    "vehicle-following": GENERIC_RULES,
    "pedestrian-collision-warning": {
        **{situation: (1, 1, 0.0) for situation in ("ego", "adjacent", "oncoming", "parked", "vehicle")},
        "on_road": (3, 2, 30.0),
        "off_road": (1, 1, 0.0),
        "other": (1, 1, 0.0),
    },
}
REASONS = {
    "ego": "in the ego vehicle's path",
    "adjacent": "in the next lane, same direction",
    "oncoming": "oncoming traffic",
    "parked": "parked",
    "vehicle": "vehicle in an unknown lane",
    "on_road": "person on the carriageway",
    "off_road": "person off the carriageway",
    "other": "not a road user",
}


def situation(class_name: str, relations: list[Triplet]) -> str:
    """The situation (a key of the rule tables) of an object of ``class_name`` with these outgoing triplets."""
    predicates = {t.predicate for t in relations}
    if class_name in VEHICLES:
        if "parked on" in predicates:
            return "parked"
        return next((LANES[p] for p in ("in ego lane", "in adjacent lane", "oncoming") if p in predicates), "vehicle")
    if class_name in HUMANS:
        on_road = "crossing" in predicates or any(
            t.object_id is None and t.object_class in ROAD_SURFACES and t.predicate != "riding" for t in relations
        )
        return "on_road" if on_road else "off_road"
    return "other"


def object_depth(geo: SceneGeometry, object_id: int, ridden: int | None) -> float | None:
    """Depth in metres of an object's ground contact; a rider's is its two-wheeler's, or its feet's corrected for
    the pedals. ``None`` for an object with no visible pixel."""
    if ridden is not None and ridden in geo.footprints:
        return geo.depth(ridden)
    if object_id not in geo.footprints:
        return None
    if geo.scene.object(object_id).class_name == "rider":
        plane = geo.plane
        return plane.depth(geo.contact(object_id).v) * (plane.height_m - RIDER_FEET_M) / plane.height_m
    return geo.depth(object_id)


@LABELERS.register("heuristic")
class HeuristicLabeler(Labeler):
    """Rule-based tiers (see the module docstring); no model, no network. Source ``"heuristic"``."""

    name = "heuristic"

    def label(self, scene: Scene, triplets: list[Triplet], task: Task) -> LabelResult:
        rules = RULES.get(task.name, GENERIC_RULES)
        geo = analyze(scene)
        outgoing: dict[int, list[Triplet]] = defaultdict(list)
        for t in triplets:
            outgoing[t.subject_id].append(t)
        rides = {t.subject_id: t.object_id for t in triplets if t.predicate == "riding" and t.object_id is not None}
        ridden_by = {wheel: rider for rider, wheel in rides.items()}
        labels: dict[int, ObjectLabel] = {}
        # Riders before the rest: a two-wheeler takes its rider's tier.
        for obj in sorted(scene.objects, key=lambda o: o.object_id not in rides):
            rider = ridden_by.get(obj.object_id)
            if obj.class_name in TWO_WHEELERS and rider is not None and rider in labels:
                tier = labels[rider].importance
                labels[obj.object_id] = ObjectLabel(obj.object_id, tier, f"{obj.class_name} ridden by #{rider}")
                continue
            depth = object_depth(geo, obj.object_id, rides.get(obj.object_id))
            kind = situation(obj.class_name, outgoing[obj.object_id])
            if kind == "other" and obj.class_name in TWO_WHEELERS:
                kind = situation("rider", outgoing[obj.object_id])  # an unridden two-wheeler: where it stands
            near_tier, far_tier, near_m = rules.get(kind, GENERIC_RULES[kind])
            near = depth is not None and depth < near_m
            where = f"~{depth:.0f} m ahead" if depth is not None else "not visible"
            rationale = f"{obj.class_name}, {REASONS[kind]}, {where}"
            labels[obj.object_id] = ObjectLabel(obj.object_id, near_tier if near else far_tier, rationale)
        return LabelResult(labels=[labels[o.object_id] for o in scene.objects], source="heuristic")
