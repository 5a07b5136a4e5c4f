"""Spatial relations between road users (in front of, behind, beside): hand-built scenes, synthcity, downstream."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from street_scene import H, W, make_scene, person_mask, vehicle_mask

from semcom_bench.annotate.base import Detection, Scene, Triplet
from semcom_bench.annotate.detectors.gt import GroundTruthDetector
from semcom_bench.annotate.geometry import analyze
from semcom_bench.annotate.labelers.heuristic import HeuristicLabeler
from semcom_bench.annotate.relations.geometric import GeometricRelationPredictor, pair_riders
from semcom_bench.annotate.relations.spatial import SPATIAL_PREDICATES, spatial_triplets
from semcom_bench.annotate.toif import critical_flags, task_mask
from semcom_bench.datasets.base import DATASETS
from semcom_bench.schemas.vocabulary import PREDICATES
from semcom_bench.tasks import load_task


def spatial(scene: Scene) -> set[tuple[int, str, int | None]]:
    """``(subject, predicate, object)`` of the geometric predictor's spatial triplets."""
    return {(t.subject_id, t.predicate, t.object_id) for t in GeometricRelationPredictor().predict(scene)
            if t.predicate in SPATIAL_PREDICATES}


def test_predicates_are_in_the_vocabulary() -> None:
    assert set(SPATIAL_PREDICATES) <= set(PREDICATES)
    assert {PREDICATES[p]["source"] for p in SPATIAL_PREDICATES} == {"VG150", "PSG"}


def test_nearer_car_in_the_ego_lane_is_in_front_of_the_farther_one() -> None:
    # The far car shows right of the near one: their visible boxes only touch.
    scene = make_scene([(2, "car", vehicle_mask(0.6, 20)), (1, "car", vehicle_mask(-0.6, 10))])
    triplets = GeometricRelationPredictor().predict(scene)
    assert {(t.subject_id, t.predicate) for t in triplets} >= {(1, "in ego lane"), (2, "in ego lane")}
    found = [t for t in triplets if t.predicate in SPATIAL_PREDICATES]
    assert found == [Triplet(1, "in front of", 2, "car"), Triplet(2, "behind", 1, "car")]


def test_in_front_of_only_the_nearest() -> None:
    # The car stands before both the person (it hides a leg) and the bus (which shows above it): only the person counts.
    scene = make_scene([
        (3, "bus", vehicle_mask(-1.5, 30, width=2.5, height=3.2)),
        (2, "person", person_mask(-0.1, 14, spread=0.03)),
        (1, "car", vehicle_mask(-1.0, 8)),
    ])
    assert spatial(scene) == {(1, "in front of", 2), (2, "behind", 1), (2, "in front of", 3), (3, "behind", 2)}


def test_far_car_showing_above_a_near_bicycle_is_behind_it() -> None:
    # The bicycle is lower than the horizon: the car shows above it, their masks apart, the boxes overlapping across.
    scene = make_scene([(2, "car", vehicle_mask(0.0, 40)), (1, "bicycle", vehicle_mask(0.0, 8, width=0.6, height=1.0))])
    assert scene.objects[1].bbox[1] > scene.objects[0].bbox[3]
    assert spatial(scene) == {(1, "in front of", 2), (2, "behind", 1)}


def test_half_a_stride_ahead_is_still_beside() -> None:
    scene = make_scene([(2, "person", person_mask(-0.6, 11, 0.03)), (1, "person", person_mask(-1.0, 10, 0.03))])
    assert spatial(scene) == {(1, "beside", 2), (2, "beside", 1)}


def test_far_depths_need_a_wider_margin() -> None:
    # 3 m apart in depth: in front at 10 m; at 40 m that is about a row of the image, within the depths' error.
    near = make_scene([(2, "car", vehicle_mask(0.6, 13)), (1, "car", vehicle_mask(-0.6, 10))])
    assert spatial(near) == {(1, "in front of", 2), (2, "behind", 1)}
    far = make_scene([(2, "car", vehicle_mask(0.6, 43)), (1, "car", vehicle_mask(-0.6, 40))])
    # The estimated gap must lie between the fixed margin and the 10 % one, or the last line would test nothing new.
    assert 1.5 < analyze(far).depth(2) - analyze(far).depth(1) < 4.0
    assert spatial(far) == set()


def test_people_abreast_are_beside_each_other() -> None:
    scene = make_scene([(1, "person", person_mask(6.0, 20, spread=0.0)), (2, "person", person_mask(7.0, 20.4, 0.04))])
    assert spatial(scene) == {(1, "beside", 2), (2, "beside", 1)}


def test_people_in_line_within_the_margin_get_nothing() -> None:
    # Half a metre apart in depth and overlapping across: neither side by side nor surely one in front.
    scene = make_scene([(1, "person", person_mask(-5.8, 21, 0.03)), (2, "person", person_mask(-6.0, 20, 0.03))])
    geo = analyze(scene)
    assert geo.contact(1).x0 < geo.contact(2).x1 and abs(geo.depth(1) - geo.depth(2)) < 1.5
    assert spatial(scene) == set()


def test_far_apart_road_users_get_nothing() -> None:
    scene = make_scene([(1, "car", vehicle_mask(-3.4, 15)), (2, "car", vehicle_mask(3.3, 25))])
    assert spatial(scene) == set()
    # As deep, but the car in the ego lane and the person on the sidewalk have a lane between them.
    scene = make_scene([(2, "person", person_mask(5.5, 15.3, 0.0)), (1, "car", vehicle_mask(0.0, 15))])
    assert spatial(scene) == set()


def test_rider_and_its_bicycle_get_no_spatial_relation_between_them() -> None:
    scene = make_scene([
        (13, "car", vehicle_mask(3.0, 30)),
        (10, "bicycle", vehicle_mask(2.0, 15, width=0.1, height=1.0)),
        (11, "rider", person_mask(2.0, 15.6, spread=0.03, height=1.6, lift=0.3)),
    ])
    found = spatial(scene)
    assert not {(s, o) for s, _, o in found} & {(10, 11), (11, 10)}
    assert found == {(11, "in front of", 13), (13, "behind", 11)}
    # Feet hidden behind the bicycle's frame: the rider stands where its bicycle does.
    scene = make_scene([
        (13, "car", vehicle_mask(3.0, 30)),
        (11, "rider", person_mask(2.0, 15.6, spread=0.03, height=1.6, lift=0.3)),
        (10, "bicycle", vehicle_mask(2.0, 15, width=0.5, height=1.0)),
    ])
    assert not analyze(scene).contact(11).seen
    assert spatial(scene) == {(11, "in front of", 13), (13, "behind", 11), (10, "in front of", 13), (13, "behind", 10)}
    # A rider leaning off the side of its bicycle: unpaired, the two would be beside each other.
    scene = make_scene([
        (10, "bicycle", vehicle_mask(2.0, 15, width=0.1, height=1.0)),
        (11, "rider", person_mask(2.5, 15.6, spread=0.03, height=1.6, lift=0.3)),
    ])
    assert pair_riders(scene) == {11: 10}
    assert spatial(scene) == set()
    assert {(t.subject_id, t.predicate, t.object_id) for t in spatial_triplets(analyze(scene), {})} == {
        (10, "beside", 11), (11, "beside", 10)}


def test_rider_without_its_bicycle_stands_at_its_lowered_feet() -> None:
    # The rider's feet on the pedals read 20 m away; lowered to the road, it is as deep as the person beside it.
    scene = make_scene([(2, "person", person_mask(3.0, 15.6, 0.0)),
                        (1, "rider", person_mask(2.0, 15.6, spread=0.03, height=1.6, lift=0.3))])
    assert analyze(scene).depth(1) > 19
    assert spatial(scene) == {(1, "beside", 2), (2, "beside", 1)}


def test_objects_without_a_known_depth_get_nothing() -> None:
    # A car cut by the image's bottom and left borders (its contact is not seen), a hidden-contact car behind a
    # parked one, and a ghost with no pixel.
    scene = make_scene([(2, "car", vehicle_mask(1.0, 18)), (1, "car", vehicle_mask(-1.5, 3.5)),
                        (3, "person", person_mask(3.5, 9, 0.03))])
    geo = analyze(scene)
    assert not geo.contact(1).seen
    ghost = Detection(99, "person", (5, 5, 6, 6), np.zeros((H, W), bool))
    scene = Scene("g", scene.image, [*scene.objects, ghost], scene.semantic)
    assert not {i for s, _, o in spatial(scene) for i in (s, o)} & {1, 99}
    hidden = np.zeros((H, W), bool)
    hidden[70:74, 290:330] = True
    scene = make_scene([(21, "car", hidden), (20, "car", vehicle_mask(4.0, 12, length=4.5)),
                        (22, "person", person_mask(2.2, 10, spread=0.0))])
    assert not analyze(scene).contact(21).seen
    assert spatial(scene) == {(22, "in front of", 20), (20, "behind", 22)}
    # A person's feet hidden by a bicycle across the road: its lowest visible row is no ground contact.
    scene = make_scene([(2, "person", person_mask(0.1, 12, 0.03)),
                        (1, "bicycle", vehicle_mask(0.0, 8, width=1.7, height=1.0))])
    assert not analyze(scene).contact(2).seen
    assert spatial(scene) == set()
    # Without a semantic map nothing tells a detection above the horizon (a false positive in the sky) from one on
    # the ground: its contact is "seen" but lies too near the horizon for a depth.
    base = make_scene([(1, "car", vehicle_mask(-0.6, 10))], semantic=False)
    sky = np.zeros((H, W), bool)
    sky[40:60, 150:190] = True
    scene = Scene("sky", base.image, [Detection(5, "car", (150.0, 40.0, 190.0, 60.0), sky), *base.objects])
    assert analyze(scene).contact(5).seen
    assert spatial(scene) == set()


def test_empty_single_and_unmapped_scenes() -> None:
    one = make_scene([(1, "car", vehicle_mask(0.0, 20))])
    assert spatial(one) == set()
    assert spatial(Scene("e", one.image, [], one.semantic)) == set()
    # Without a semantic map the camera is assumed, but the depth order still holds.
    unmapped = make_scene([(2, "car", vehicle_mask(0.6, 20)), (1, "car", vehicle_mask(-0.6, 10))], semantic=False)
    assert spatial(unmapped) == {(1, "in front of", 2), (2, "behind", 1)}


def test_boxes_only_detections() -> None:
    scene = make_scene([(2, "car", vehicle_mask(0.6, 20)), (1, "car", vehicle_mask(-0.6, 10))])
    boxes = Scene("b", scene.image, [Detection(o.object_id, o.class_name, o.bbox) for o in scene.objects],
                  scene.semantic)
    assert spatial(boxes) == {(1, "in front of", 2), (2, "behind", 1)}
    # Boxes running off the image at the bottom-left and the right.
    odd = Scene("o", scene.image, [*boxes.objects, Detection(7, "person", (-10.0, 150.0, 30.0, 260.0)),
                                   Detection(8, "car", (380.0, 85.0, 420.0, 120.0))], scene.semantic)
    found = spatial(odd)
    assert {(1, "in front of", 2), (2, "behind", 1)} <= found and all(s != o for s, _, o in found)


@pytest.fixture(scope="module")
def synth_scenes(synth_root: Path) -> list[tuple[Scene, dict[int, dict]]]:
    """Every synthcity scene with its truth objects by instance id."""
    adapter = DATASETS.get("synthcity")(root=synth_root, split="train")
    return [(GroundTruthDetector().detect(adapter.load(i)),
             {o["instance_id"]: o for o in adapter.truth_of(i)["objects"]}) for i in adapter.ids()]


def test_synthcity_spatial_triplets_are_consistent(synth_scenes: list[tuple[Scene, dict[int, dict]]]) -> None:
    counts: Counter[str] = Counter()
    for scene, truth in synth_scenes:
        classes = {o.object_id: o.class_name for o in scene.objects}
        riders = pair_riders(scene)
        found = [t for t in GeometricRelationPredictor().predict(scene) if t.predicate in SPATIAL_PREDICATES]
        keys = {(t.subject_id, t.predicate, t.object_id) for t in found}
        assert len(keys) == len(found)
        for t in found:
            counts[t.predicate] += 1
            assert t.subject_id in classes and t.object_id in classes and t.subject_id != t.object_id
            assert t.object_class == classes[t.object_id] and t.source == "geometric"
            assert riders.get(t.subject_id) != t.object_id and riders.get(t.object_id) != t.subject_id
            converse = {"in front of": "behind", "behind": "in front of", "beside": "beside"}[t.predicate]
            assert (t.object_id, converse, t.subject_id) in keys
            if t.predicate == "in front of":
                assert truth[t.subject_id]["position_m"]["z"] < truth[t.object_id]["position_m"]["z"]
        subjects = Counter(t.subject_id for t in found if t.predicate == "in front of")
        assert max(subjects.values(), default=0) <= 1
    assert counts["in front of"] > 0 and counts["beside"] > 0


def test_spatial_triplets_change_no_tier_or_task_mask(synth_scenes: list[tuple[Scene, dict[int, dict]]]) -> None:
    for scene, _ in synth_scenes:
        triplets = GeometricRelationPredictor().predict(scene)
        support = [t for t in triplets if t.predicate not in SPATIAL_PREDICATES]
        for name in ("vehicle-following", "pedestrian-collision-warning"):
            task = load_task(name)
            assert HeuristicLabeler().label(scene, triplets, task) == HeuristicLabeler().label(scene, support, task)
            flags = critical_flags(scene, triplets, task)
            assert not any(f for t, f in zip(triplets, flags, strict=True) if t.predicate in SPATIAL_PREDICATES)
            assert np.array_equal(task_mask(scene, triplets, flags, task),
                                  task_mask(scene, support, critical_flags(scene, support, task), task))
