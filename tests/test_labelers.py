"""The heuristic (SA-OOSC rules) and static (OOSC class table) labelers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from street_scene import H, W, make_scene, person_mask, vehicle_mask

from semcom_bench.annotate.base import LABELERS, Detection, Scene, Triplet
from semcom_bench.annotate.labelers import heuristic, static  # noqa: F401  (registration)
from semcom_bench.annotate.labelers.heuristic import GENERIC_RULES, RULES, situation
from semcom_bench.annotate.relations import geometric  # noqa: F401  (registration)
from semcom_bench.tasks import Task, load_task

VF = load_task("vehicle-following")
PCW = load_task("pedestrian-collision-warning")


def stuff(subject: int, predicate: str, obj: str) -> Triplet:
    return Triplet(subject, predicate, None, obj)


def tiers(scene: Scene, triplets: list[Triplet], task: Task) -> dict[int, int]:
    result = LABELERS.get("heuristic")().label(scene, triplets, task)
    assert result.source == "heuristic" and result.error is None
    assert [lab.object_id for lab in result.labels] == [o.object_id for o in scene.objects]  # every object, in order
    for lab in result.labels:
        assert lab.importance in (1, 2, 3) and lab.rationale.strip() and "\n" not in lab.rationale
    return {lab.object_id: lab.importance for lab in result.labels}


@pytest.mark.parametrize(
    ("lane", "depth", "vf", "pcw"),
    [
        ("in ego lane", 20, 3, 1), ("in ego lane", 45, 2, 1),
        ("in adjacent lane", 20, 2, 1), ("in adjacent lane", 45, 1, 1),
        ("oncoming", 35, 2, 1), ("oncoming", 60, 2, 1),  # SA-OOSC Fig. 2: oncoming at a distance is medium
    ],
)
def test_vehicle_tiers_by_lane_and_depth(lane: str, depth: float, vf: int, pcw: int) -> None:
    x = {"in ego lane": 0.0, "in adjacent lane": 3.4, "oncoming": -3.4}[lane]
    scene = make_scene([(1, "car", vehicle_mask(x, depth))])
    triplets = [stuff(1, "driving on", "road"), stuff(1, lane, "road")]
    assert tiers(scene, triplets, VF) == {1: vf}
    assert tiers(scene, triplets, PCW) == {1: pcw}


def test_parked_vehicle_is_low_even_when_near() -> None:
    scene = make_scene([(1, "car", vehicle_mask(4.0, 10))])
    assert tiers(scene, [stuff(1, "parked on", "road")], VF) == {1: 1}


@pytest.mark.parametrize(
    ("x", "depth", "relations", "tier"),
    [
        (1.0, 16, [("walking on", "crosswalk"), ("crossing", "road")], 3),
        (1.0, 45, [("walking on", "road"), ("crossing", "road")], 2),
        (-2.0, 20, [("standing on", "road")], 3),
        (6.5, 18, [("walking on", "sidewalk")], 1),
    ],
)
def test_people_tiers_for_both_tasks(x: float, depth: float, relations: list[tuple[str, str]], tier: int) -> None:
    scene = make_scene([(8, "person", person_mask(x, depth, spread=0.05))])
    triplets = [stuff(8, p, o) for p, o in relations]
    assert tiers(scene, triplets, PCW) == {8: tier}
    assert tiers(scene, triplets, VF) == {8: tier}  # anyone on the road ahead matters when following too


def test_bicycle_takes_its_riders_tier_and_rider_depth_uses_the_bicycle() -> None:
    scene = make_scene([
        (10, "bicycle", vehicle_mask(2.0, 15, width=0.1, height=1.0)),
        (11, "rider", person_mask(2.0, 15.6, spread=0.03, height=1.6, lift=0.3)),
        (12, "bicycle", vehicle_mask(-6.5, 20, width=0.1, height=1.0)),
    ])
    triplets = [Triplet(11, "riding", 10, "bicycle"), stuff(11, "on", "road"), stuff(10, "on", "road"),
                stuff(12, "on", "sidewalk")]
    assert tiers(scene, triplets, PCW) == {10: 3, 11: 3, 12: 1}


def test_labels_follow_the_geometric_scene_graph() -> None:
    scene = make_scene([
        (2, "car", vehicle_mask(-3.4, 25)),
        (1, "car", vehicle_mask(0.0, 20)),
        (4, "car", vehicle_mask(4.0, 12)),
        (8, "person", person_mask(1.0, 16, spread=0.05)),
    ])
    triplets = geometric.GeometricRelationPredictor().predict(scene)
    assert tiers(scene, triplets, VF) == {2: 2, 1: 3, 4: 1, 8: 3}
    assert tiers(scene, triplets, PCW) == {2: 1, 1: 1, 4: 1, 8: 3}


def test_unknown_task_uses_the_generic_driving_rules(tmp_path: Path) -> None:
    path = tmp_path / "cyclist-safety.yaml"
    path.write_text("name: cyclist-safety\ndescription: x\ncritical_subjects: [rider]\ncritical_relations: []\n")
    task = load_task(path)
    assert task.name not in RULES
    scene = make_scene([(1, "car", vehicle_mask(0.0, 20))])
    assert tiers(scene, [stuff(1, "in ego lane", "road")], task) == {1: GENERIC_RULES["ego"][0]}


def test_situations_and_other_classes() -> None:
    assert situation("truck", [stuff(1, "parked on", "sidewalk")]) == "parked"
    assert situation("bus", []) == "vehicle"
    assert situation("person", [stuff(1, "walking on", "sidewalk")]) == "off_road"
    assert situation("person", [stuff(1, "crossing", "road")]) == "on_road"
    assert situation("traffic light", []) == "other"
    ghost = Detection(5, "dog", (0, 0, 2, 2), np.zeros((H, W), bool))
    scene = make_scene([(1, "car", vehicle_mask(0.0, 20))])
    scene = Scene("s", scene.image, [*scene.objects, ghost], scene.semantic)
    assert tiers(scene, [], VF)[5] == 1
    assert LABELERS.get("heuristic")().label(Scene("e", scene.image, [], scene.semantic), [], VF).labels == []


def test_static_table() -> None:
    objects = [Detection(i, name, (0, 0, 1, 1)) for i, name in enumerate(["person", "rider", "car", "bicycle", "dog"])]
    scene = Scene("s", np.zeros((H, W, 3), np.uint8), objects)
    for task in (VF, PCW):
        result = LABELERS.get("static")().label(scene, [], task)
        assert result.source == "static"
        assert [(lab.importance, lab.rationale) for lab in result.labels] == [
            (3, "class person"), (3, "class rider"), (2, "class car"), (2, "class bicycle"), (1, "class dog")]
