"""The geometric and gt relation predictors, and the ground-plane geometry under them, on hand-built scenes."""

from __future__ import annotations

import numpy as np
import pytest
from street_scene import (
    CAM_HEIGHT,
    H,
    HORIZON,
    VANISHING_X,
    W,
    make_scene,
    person_mask,
    vehicle_mask,
)

from semcom_bench.annotate.base import RELATION_PREDICTORS, Detection, Scene
from semcom_bench.annotate.geometry import analyze
from semcom_bench.annotate.relations import geometric, gt  # noqa: F401  (registration)
from semcom_bench.annotate.relations.geometric import _outward_of, pair_riders, posture
from semcom_bench.annotate.relations.spatial import SPATIAL_PREDICATES
from semcom_bench.datasets.base import Relation
from semcom_bench.errors import SemcomError
from semcom_bench.schemas.vocabulary import PREDICATES


def relations(scene: Scene) -> dict[int, set[tuple[str, int | str]]]:
    """object_id -> {(predicate, object id or stuff name)} from the geometric predictor, spatial ones left out
    (tests/test_relations_spatial.py checks those)."""
    found: dict[int, set[tuple[str, int | str]]] = {}
    for t in RELATION_PREDICTORS.get("geometric")().predict(scene):
        assert t.predicate in PREDICATES and t.source == "geometric"
        if t.predicate in SPATIAL_PREDICATES:
            continue
        found.setdefault(t.subject_id, set()).add((t.predicate, t.object_id if t.object_id is not None else t.object_class))
    return found


def test_ground_plane_recovered_from_road_edges() -> None:
    scene = make_scene([(1, "car", vehicle_mask(0.0, 20)), (2, "car", vehicle_mask(-3.4, 30))])
    geo = analyze(scene)
    assert geo.plane.source == "road"
    assert geo.plane.horizon_y == pytest.approx(HORIZON, abs=0.5)
    assert geo.plane.vanishing_x == pytest.approx(VANISHING_X, abs=1.0)
    assert geo.plane.height_m == pytest.approx(CAM_HEIGHT, rel=0.05)  # from the cars' 1.8 m width
    assert geo.depth(1) == pytest.approx(20, rel=0.05)
    assert geo.lateral(2) == pytest.approx(-3.4, abs=0.15)
    assert geo.kerb_lateral(side=1) == pytest.approx(5.0, abs=0.1)
    assert geo.kerb_lateral(side=-1) == pytest.approx(-5.0, abs=0.1)
    assert analyze(scene) is geo  # the labeler reuses the predictor's analysis


def test_vehicle_lanes_and_parking() -> None:
    scene = make_scene([
        (3, "car", vehicle_mask(3.3, 30)),  # right of the ego lane, 1.7 m from the kerb: driving
        (2, "car", vehicle_mask(-3.4, 25)),
        (1, "car", vehicle_mask(0.0, 20)),
        (4, "car", vehicle_mask(4.0, 12)),  # centred 1.0 m from the kerb: a kerb parking lane
    ])
    found = relations(scene)
    assert found[1] == {("driving on", "road"), ("in ego lane", "road")}
    assert found[2] == {("driving on", "road"), ("oncoming", "road")}
    assert found[3] == {("driving on", "road"), ("in adjacent lane", "road")}
    assert found[4] == {("parked on", "road")}


def test_vehicle_on_sidewalk_is_parked_there() -> None:
    assert relations(make_scene([(7, "car", vehicle_mask(6.6, 30))]))[7] == {("parked on", "sidewalk")}


def test_people_surface_and_posture() -> None:
    scene = make_scene([
        (6, "person", person_mask(-6.5, 20, spread=0.05)),
        (9, "person", person_mask(-2.0, 22, spread=0.0)),
        (5, "person", person_mask(6.5, 18, spread=0.0)),
        (8, "person", person_mask(1.0, 16, spread=0.05)),
    ])
    found = relations(scene)
    assert found[6] == {("walking on", "sidewalk")}
    assert found[5] == {("standing on", "sidewalk")}
    assert found[9] == {("standing on", "road")}  # on the road but not moving: not crossing
    assert found[8] == {("walking on", "road"), ("crossing", "road")}


def test_posture_not_claimed_where_the_legs_are_hidden() -> None:
    walker = person_mask(-6.5, 20, spread=0.05)
    scene = make_scene([(6, "person", walker), (7, "person", person_mask(-5.4, 17, spread=0.0))])  # 7 hides 6's legs
    found = relations(scene)
    assert found[6] == {("on", "sidewalk")}  # walking or standing cannot be told
    assert found[7] == {("standing on", "sidewalk")}
    # Feet on the road in view, a pole against the legs: on the road, taken as crossing it.
    walker = person_mask(1.0, 16, spread=0.05)
    rows, cols = np.flatnonzero(walker.any(1)), np.flatnonzero(walker.any(0))
    pole = np.zeros((H, W), bool)
    pole[rows[0] - 20 : rows[-1] - 2, cols[-1] + 1 : cols[-1] + 3] = True
    assert relations(make_scene([(8, "person", walker), (30, "pole", pole)]))[8] == {("on", "road"), ("crossing", "road")}


def test_crosswalk_from_zebra_stripes() -> None:
    person = [(8, "person", person_mask(1.0, 16, spread=0.05))]
    assert relations(make_scene(person, crosswalk=(14, 18)))[8] == {("walking on", "crosswalk"), ("crossing", "road")}
    # Stripes elsewhere on the road do not make the person's spot a crosswalk.
    assert relations(make_scene(person, crosswalk=(30, 34)))[8] == {("walking on", "road"), ("crossing", "road")}


def test_rider_rides_the_bicycle_under_it() -> None:
    scene = make_scene([
        (10, "bicycle", vehicle_mask(2.0, 15, width=0.1, height=1.0)),
        (11, "rider", person_mask(2.0, 15.6, spread=0.03, height=1.6, lift=0.3)),
        (12, "bicycle", vehicle_mask(-2.5, 30, width=0.1, height=1.0)),  # nobody on it
    ])
    assert pair_riders(scene) == {11: 10}
    found = relations(scene)
    assert found[11] == {("riding", 10), ("on", "road")}
    assert found[10] == {("on", "road")}
    assert found[12] == {("on", "road")}


def test_hidden_vehicle_shares_the_state_of_the_one_in_front() -> None:
    # A car of a parked row seen only between the car in front of it and a passer-by: its ground contact is hidden.
    hidden = np.zeros((H, W), bool)
    hidden[70:74, 290:330] = True
    scene = make_scene([
        (21, "car", hidden),
        (20, "car", vehicle_mask(4.0, 12, length=4.5)),
        (22, "person", person_mask(2.2, 10, spread=0.0)),
    ])
    geo = analyze(scene)
    assert not geo.contact(21).seen and geo.footprints[21].occluder == 20
    found = relations(scene)
    assert found[20] == found[21] == {("parked on", "road")}


def test_vehicle_hidden_further_out_is_in_another_lane() -> None:
    # Car 20 drives in the adjacent lane (x = 2.2 m; its box spans columns 233-308); a far strip of car above it.
    for cols, outward in (((250, 290), False), ((290, 330), True)):
        strip = np.zeros((H, W), bool)
        strip[70:74, cols[0] : cols[1]] = True
        scene = make_scene([(21, "car", strip), (20, "car", vehicle_mask(2.2, 12, length=4.5))])
        assert analyze(scene).footprints[21].occluder == 20
        # Even at car 20's depth, the nearest it can be, the right strip lies over a lane's slack further out.
        assert _outward_of(analyze(scene), scene.object(21), 20) is outward


def test_without_semantic_map_only_lanes() -> None:
    found = relations(make_scene([(1, "car", vehicle_mask(0.0, 20)), (8, "person", person_mask(1, 16, 0.05))],
                                 semantic=False))
    assert found == {1: {("in ego lane", "road")}}


def test_posture_from_feet_spread() -> None:
    for spread, state in ((0.0, "standing"), (0.012, "standing"), (0.04, "walking"), (0.06, "walking")):
        mask = person_mask(0.0, 12, spread=spread)
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        assert posture(mask, (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)) == state, spread


def test_predictor_handles_empty_and_pixelless_objects() -> None:
    scene = make_scene([(1, "car", vehicle_mask(0.0, 20))])
    empty = Scene("e", scene.image, [], scene.semantic)
    assert RELATION_PREDICTORS.get("geometric")().predict(empty) == []
    ghost = Detection(99, "person", (5, 5, 6, 6), np.zeros((H, W), bool))
    with_ghost = Scene("g", scene.image, [*scene.objects, ghost], scene.semantic)
    assert 99 not in relations(with_ghost)


def test_gt_predictor_hands_on_dataset_relations() -> None:
    scene = make_scene([(10, "bicycle", vehicle_mask(2.0, 15, 0.1, 1.0)), (11, "rider", person_mask(2.0, 15.6, 0.03))])
    scene.gt_relations = [Relation(11, "riding", 10), Relation(11, "on", "road")]
    triplets = RELATION_PREDICTORS.get("gt")().predict(scene)
    assert [(t.subject_id, t.predicate, t.object_id, t.object_class, t.source) for t in triplets] == [
        (11, "riding", 10, "bicycle", "gt"), (11, "on", None, "road", "gt")]


def test_gt_predictor_errors() -> None:
    scene = make_scene([(1, "car", vehicle_mask(0.0, 20))])
    with pytest.raises(SemcomError, match="no ground-truth relations"):
        RELATION_PREDICTORS.get("gt")().predict(scene)
    scene.gt_relations = [Relation(1, "riding", 7)]
    with pytest.raises(SemcomError, match="instance 7"):
        RELATION_PREDICTORS.get("gt")().predict(scene)
