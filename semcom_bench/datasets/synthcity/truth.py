"""Ground truth of a scene: per-instance relations, importance tiers, task criticality, and the sidecar file.

The rules are listed in the package docstring (:mod:`semcom_bench.datasets.synthcity`); this module implements them as
deterministic functions of what the generator placed, with the distance thresholds as the constants below.
"""

from __future__ import annotations

import json
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semcom_bench.errors import AnnotationMissingError, CorruptFileError, SchemaError
from semcom_bench.schemas.vocabulary import PREDICATES
from semcom_bench.tasks import Task, load_task

GENERATOR_NAME = "synthcity"
GENERATOR_VERSION = 3  # 2: a pedestrian whose lower legs are hidden is "on" its surface, posture unknown;
# 3: an oncoming vehicle is medium importance at any distance (SA-OOSC Fig. 2), it was low beyond 40 m
NEAR_M = 30.0  # closer than this, a road user in the ego vehicle's path is high importance
REGENERATE_HINT = "re-run the synthcity generator with the same seed and size on this folder; it rewrites such images"
TIERS = (1, 2, 3)
LANES = ("ego", "adjacent", "oncoming", "parking")
STATES = ("driving", "parked", "walking", "standing", "riding")
VEHICLES = frozenset({"car", "truck", "bus"})
LANE_PREDICATE = {"ego": "in ego lane", "adjacent": "in adjacent lane", "oncoming": "oncoming"}
POSTURE_PREDICATE = {"walking": "walking on", "standing": "standing on"}
LEGS_SHARE = 0.3  # the lowest share of a pedestrian's height that shows whether it walks or stands
MIN_POSTURE_PX = 8  # a shorter pedestrian's legs are a few pixels: nobody can tell its posture


@dataclass(eq=False)
class ThingRecord:
    """What the generator knows about one instance polygon; ``instance_id`` is set when it is rasterised."""

    class_name: str
    x: float  # lateral centre, metres, right positive
    z: float  # depth of its nearest point, metres
    state: str
    surface: str  # what it stands on: road | crosswalk | sidewalk | parking
    lane: str | None = None
    crossing: bool = False
    partner: ThingRecord | None = None  # a rider's bicycle, a bicycle's rider
    legs_box: tuple[float, float, float, float] | None = None  # a pedestrian's lower legs, image box, unclipped
    legs_seen: bool = True  # set by legs_in_view once the scene is rasterised
    polygon_index: int = -1
    instance_id: int | None = None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown state {self.state!r}")
        if self.lane is not None and self.lane not in LANES:
            raise ValueError(f"unknown lane {self.lane!r}")


def relations_of(rec: ThingRecord) -> list[tuple[str, str | ThingRecord]]:
    """The relations of one instance, per the rules of the package docstring."""
    if rec.class_name in VEHICLES:
        if rec.state == "parked":
            return [("parked on", rec.surface)]
        assert rec.lane is not None and rec.lane in LANE_PREDICATE
        return [("driving on", "road"), (LANE_PREDICATE[rec.lane], "road")]
    if rec.class_name == "rider":
        rels: list[tuple[str, str | ThingRecord]] = [("on", "road")]
        if rec.partner is not None:
            rels.insert(0, ("riding", rec.partner))
        return rels
    if rec.class_name == "bicycle":
        return [("on", "road")]
    # On a zebra crossing people walk; elsewhere the posture is only claimed where the lower legs can be seen.
    posture = POSTURE_PREDICATE[rec.state] if rec.legs_seen or rec.surface == "crosswalk" else "on"
    rels: list[tuple[str, str | ThingRecord]] = [(posture, rec.surface)]
    if rec.crossing:
        rels.append(("crossing", "road"))
    return rels


def legs_in_view(rec: ThingRecord, own: np.ndarray, instance_ids: np.ndarray) -> bool:
    """Whether a pedestrian's posture can be seen: its lower legs (``rec.legs_box``) lie inside the image, the
    pedestrian is at least :data:`MIN_POSTURE_PX` rows tall, and no other polygon covers any pixel of them.

    ``own`` is the pedestrian's polygon rasterised alone, ``instance_ids`` the scene's map.
    """
    assert rec.legs_box is not None and rec.instance_id is not None
    u0, v0, u1, v1 = rec.legs_box
    h, w = instance_ids.shape
    if u0 < 0 or v0 < 0 or u1 > w or v1 > h or (v1 - v0) / LEGS_SHARE < MIN_POSTURE_PX:
        return False
    rows, cols = slice(int(v0), int(np.ceil(v1))), slice(int(u0), int(np.ceil(u1)))
    legs = own[rows, cols]
    return bool(legs.any()) and bool((instance_ids[rows, cols][legs] == rec.instance_id).all())


def _human_tier(rec: ThingRecord) -> int:
    if rec.surface in ("road", "crosswalk"):
        return 3 if rec.z < NEAR_M else 2
    return 1


def _vehicle_following(rec: ThingRecord) -> int:
    """SA-OOSC's worked example (section II, Fig. 2): "the vehicle in the same lane ahead of the ego-vehicle is
    assigned 'high importance', the oncoming vehicle in the opposite lane at a distance is assigned 'medium
    importance', while the vehicle parked at the roadside is assigned 'low importance'". Oncoming is 2 at any
    distance; the heuristic labeler's table (:mod:`semcom_bench.annotate.labelers.heuristic`) says the same."""
    if rec.class_name in VEHICLES:
        if rec.state == "parked":
            return 1
        if rec.lane == "ego":
            return 3 if rec.z < NEAR_M else 2
        if rec.lane == "adjacent":
            return 2 if rec.z < NEAR_M else 1
        return 2  # oncoming
    return _human_tier(rec)


def _pedestrian_collision_warning(rec: ThingRecord) -> int:
    return 1 if rec.class_name in VEHICLES else _human_tier(rec)


IMPORTANCE_RULES = {
    "pedestrian-collision-warning": _pedestrian_collision_warning,
    "vehicle-following": _vehicle_following,
}


def importance_of(rec: ThingRecord) -> dict[str, int]:
    """Tier per task; a bicycle takes its rider's."""
    subject = rec.partner if rec.class_name == "bicycle" and rec.partner is not None else rec
    return {task: rule(subject) for task, rule in IMPORTANCE_RULES.items()}


def visible_instances(instance_ids: np.ndarray) -> dict[int, tuple[int, list[int]]]:
    """``instance_id -> (pixel_count, [x0, y0, x1, y1])`` (half-open box) for every instance id in the map."""
    from scipy import ndimage  # here: registering the synthcity adapter (the CLI's start-up) must not load scipy

    vals = np.unique(instance_ids[instance_ids >= 1000])
    if vals.size == 0:
        return {}
    lut = np.zeros(int(vals[-1]) + 1, np.int32)
    lut[vals] = np.arange(1, vals.size + 1)
    compact = lut[instance_ids]  # stuff ids (< 1000) map to 0: they are never in vals
    counts = np.bincount(compact.ravel(), minlength=vals.size + 1)
    slices = ndimage.find_objects(compact)
    return {
        int(v): (int(counts[i + 1]), [sl[1].start, sl[0].start, sl[1].stop, sl[0].stop])
        for i, (v, sl) in enumerate(zip(vals, slices, strict=True))
    }


@functools.cache
def _tasks() -> dict[str, Task]:
    """The tasks the importance rules cover, parsed once per process."""
    return {name: load_task(name) for name in IMPORTANCE_RULES}


def build_truth(
    image_id: str,
    generator: dict[str, Any],
    camera: dict[str, float],
    crosswalk: list[tuple[int, int]] | None,
    records: list[ThingRecord],
    instance_ids: np.ndarray,
) -> dict[str, Any]:
    """The sidecar document: every instance visible in ``instance_ids`` in drawing order, occluded ones dropped."""
    visible = visible_instances(instance_ids)
    tasks = _tasks()
    objects = []
    for rec in records:
        if rec.instance_id not in visible:
            continue
        pixel_count, bbox = visible[rec.instance_id]
        relations = []
        for predicate, obj in relations_of(rec):
            if isinstance(obj, ThingRecord):
                if obj.instance_id not in visible:  # a relation to an instance nobody can see is dropped
                    continue
                relations.append({"predicate": predicate, "object": obj.instance_id})
            else:
                relations.append({"predicate": predicate, "object": obj})
        critical = {
            name: any(
                isinstance(r["object"], str) and task.is_critical(rec.class_name, r["predicate"], r["object"])
                for r in relations
            )
            for name, task in tasks.items()
        }
        objects.append(
            {
                "instance_id": rec.instance_id,
                "class_name": rec.class_name,
                "bbox": bbox,
                "pixel_count": pixel_count,
                "position_m": {"x": round(rec.x, 2), "z": round(rec.z, 2)},
                "lane": rec.lane,
                "state": rec.state,
                "relations": relations,
                "importance": importance_of(rec),
                "task_critical": critical,
            }
        )
    return {
        "image_id": image_id,
        "generator": generator,
        "camera": camera,
        "stuff_regions": {"crosswalk": [list(p) for p in crosswalk] if crosswalk else None},
        "objects": objects,
    }


def _fail(path: Path, what: str) -> SchemaError:
    return SchemaError(
        f"truth sidecar {path} is invalid: {what}",
        hint=REGENERATE_HINT,
    )


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_object(path: Path, i: int, obj: Any) -> None:
    where = f"objects[{i}]"
    if not isinstance(obj, dict):
        raise _fail(path, f"{where} is not an object")
    for key in ("instance_id", "class_name", "bbox", "pixel_count", "position_m", "lane", "state", "relations",
                "importance", "task_critical"):
        if key not in obj:
            raise _fail(path, f"{where} has no {key!r}")
    if not _is_int(obj["instance_id"]) or obj["instance_id"] < 1000:
        raise _fail(path, f"{where}.instance_id must be an integer class_id*1000+k")
    bbox = obj["bbox"]
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_int(v) for v in bbox)
            and bbox[0] < bbox[2] and bbox[1] < bbox[3]):
        raise _fail(path, f"{where}.bbox must be 4 integers x0 < x1, y0 < y1")
    if not _is_int(obj["pixel_count"]) or obj["pixel_count"] <= 0:
        raise _fail(path, f"{where}.pixel_count must be a positive integer")
    if obj["state"] not in STATES or (obj["lane"] is not None and obj["lane"] not in LANES):
        raise _fail(path, f"{where} has an unknown state or lane")
    pos = obj["position_m"]
    if not isinstance(pos, dict) or not all(isinstance(pos.get(k), (int, float)) for k in ("x", "z")):
        raise _fail(path, f"{where}.position_m needs numbers x and z")
    if not isinstance(obj["relations"], list):
        raise _fail(path, f"{where}.relations must be a list")
    for rel in obj["relations"]:
        if not isinstance(rel, dict) or rel.get("predicate") not in PREDICATES:
            raise _fail(path, f"{where} has a relation whose predicate is not in the vocabulary: {rel!r}")
        if not (isinstance(rel.get("object"), str) or _is_int(rel.get("object"))):
            raise _fail(path, f"{where} has a relation whose object is neither a class name nor an instance id")
    tiers, flags = obj["importance"], obj["task_critical"]
    if not isinstance(tiers, dict) or not all(_is_int(v) and v in TIERS for v in tiers.values()):
        raise _fail(path, f"{where}.importance must map task names to tiers 1-3")
    if not isinstance(flags, dict) or not all(isinstance(v, bool) for v in flags.values()):
        raise _fail(path, f"{where}.task_critical must map task names to booleans")


def read_truth(path: Path) -> dict[str, Any]:
    """Parse and validate a truth sidecar written by :func:`build_truth`.

    Raises :class:`AnnotationMissingError` when the file is absent, :class:`CorruptFileError` when it is not JSON,
    and :class:`SchemaError` when its content or generator version does not match this reader.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AnnotationMissingError(
            f"truth sidecar {path} does not exist", hint="generate the dataset with the synthcity generator"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptFileError(
            f"truth sidecar {path} is not valid JSON: {err}",
            hint=REGENERATE_HINT,
        ) from None
    if not isinstance(doc, dict):
        raise _fail(path, "the top level is not an object")
    for key in ("image_id", "generator", "camera", "stuff_regions", "objects"):
        if key not in doc:
            raise _fail(path, f"missing key {key!r}")
    gen = doc["generator"]
    if not isinstance(gen, dict) or gen.get("name") != GENERATOR_NAME:
        raise _fail(path, "it was not written by the synthcity generator")
    if gen.get("version") != GENERATOR_VERSION:
        raise _fail(path, f"generator version {gen.get('version')!r}, this reader understands {GENERATOR_VERSION}")
    if not isinstance(doc["objects"], list):
        raise _fail(path, "objects must be a list")
    for i, obj in enumerate(doc["objects"]):
        _check_object(path, i, obj)
    ids = [o["instance_id"] for o in doc["objects"]]
    if len(set(ids)) != len(ids):
        raise _fail(path, "instance ids repeat")
    for obj in doc["objects"]:
        for rel in obj["relations"]:
            if not isinstance(rel["object"], str) and rel["object"] not in ids:
                what = f"instance {obj['instance_id']} relates to instance {rel['object']}, which is not listed"
                raise _fail(path, what)
    return doc
