"""Patch tiers (SA-OOSC max rule, by mask) and TOIF (InsCom eq. 5-7) on hand-built scenes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cityscapesscripts.helpers.labels import name2label

from semcom_bench.annotate.base import Detection, Scene, Triplet
from semcom_bench.annotate.patches import box_mask, patch_tiers, pool_any
from semcom_bench.annotate.toif import critical_flags, task_mask
from semcom_bench.errors import SemcomError
from semcom_bench.schemas.vocabulary import PREDICATES
from semcom_bench.tasks import load_task, task_names

H, W = 32, 48


def mask_of(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_patch_takes_highest_tier_of_overlapping_masks() -> None:
    low = Detection(1, "car", (0, 0, 20, 20), mask_of(0, 20, 0, 20))
    high = Detection(2, "car", (12, 12, 30, 30), mask_of(12, 30, 12, 30))
    grid = patch_tiers([low, high], {1: 1, 2: 3}, H, W, patch_size=16)
    assert grid.shape == (2, 3) and grid.dtype == np.uint8
    assert grid.tolist() == [[3, 3, 0], [3, 3, 0]]  # the high car reaches into all four top-left patches


def test_mask_not_box_decides_overlap() -> None:
    # An L-shaped mask whose box covers patch (1, 1) but whose pixels do not.
    mask = mask_of(0, 32, 0, 8) | mask_of(0, 8, 0, 32)
    obj = Detection(1, "person", (0, 0, 32, 32), mask)
    grid = patch_tiers([obj], {1: 2}, H, W, patch_size=16)
    assert grid.tolist() == [[2, 2, 0], [2, 0, 0]]
    boxed = patch_tiers([Detection(1, "person", (0, 0, 32, 32))], {1: 2}, H, W, patch_size=16)
    assert boxed.tolist() == [[2, 2, 0], [2, 2, 0]]


def test_ragged_edges_and_raster_order() -> None:
    grid = patch_tiers([Detection(1, "car", (44, 30, 48, 32), mask_of(30, 32, 44, 48))], {1: 1}, H, W, patch_size=10)
    assert grid.shape == (4, 5)
    assert np.flatnonzero(grid.ravel()).tolist() == [19]  # last patch in raster order
    with pytest.raises(ValueError):
        patch_tiers([], {}, H, W, patch_size=0)


def test_pool_any_matches_loop() -> None:
    rng = np.random.default_rng(3)
    mask = rng.random((H, W)) > 0.97
    pooled = pool_any(mask, 7)
    for r in range(pooled.shape[0]):
        for c in range(pooled.shape[1]):
            assert pooled[r, c] == mask[r * 7 : (r + 1) * 7, c * 7 : (c + 1) * 7].any()


def test_box_mask_half_open() -> None:
    assert box_mask((1, 2, 3, 5), 6, 6).sum() == 2 * 3
    assert box_mask((0.5, 0, 1.5, 1), 6, 6).sum() == 2  # partial pixels count


def test_toif_two_stages_and_mask() -> None:
    task = load_task("pedestrian-collision-warning")
    person, car = name2label["person"].id, name2label["car"].id
    semantic = np.full((H, W), name2label["road"].id, np.uint8)
    semantic[5:20, 5:10] = person
    semantic[5:20, 30:35] = person
    semantic[10:20, 8:20] = car  # a car overlapping the critical person's box
    objects = [
        Detection(1, "person", (5, 5, 10, 20), semantic == person),
        Detection(2, "person", (30, 5, 35, 20)),
        Detection(3, "car", (8, 10, 20, 20)),
    ]
    triplets = [
        Triplet(1, "walking on", None, "road"),       # critical
        Triplet(2, "walking on", None, "sidewalk"),   # stage 2 drops it
        Triplet(3, "driving on", None, "road"),       # stage 1 drops it
    ]
    scene = Scene("x", np.zeros((H, W, 3), np.uint8), objects, semantic)
    flags = critical_flags(scene, triplets, task)
    assert flags == [True, False, False]
    m = task_mask(scene, triplets, flags, task)
    # m_sem (person pixels) AND m_ins (box of object 1): the person pixels in 5:20 x 5:10 not covered by the car.
    expected = np.zeros((H, W), bool)
    expected[5:20, 5:10] = semantic[5:20, 5:10] == person
    assert np.array_equal(m, expected)


def test_toif_without_semantic_map_uses_instance_masks() -> None:
    task = load_task("pedestrian-collision-warning")
    objects = [Detection(1, "person", (0, 0, 10, 10), mask_of(2, 8, 2, 8))]
    scene = Scene("x", np.zeros((H, W, 3), np.uint8), objects, None)
    triplets = [Triplet(1, "crossing", None, "road")]
    m = task_mask(scene, triplets, critical_flags(scene, triplets, task), task)
    assert np.array_equal(m, mask_of(2, 8, 2, 8))


def test_every_shipped_task_names_its_relations_in_words() -> None:
    # YAML 1.1 reads a bare `on` as True: `[on, road]` became ('True', 'road'), so a rider on the road was not critical
    task = load_task("pedestrian-collision-warning")
    assert task.is_critical("rider", "on", "road")
    for name in task_names():
        spec = load_task(name)
        assert {p for p, _ in spec.critical_relations} <= set(PREDICATES), name


def test_a_task_file_whose_yaml_turns_a_word_into_a_boolean_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bare-on.yaml"
    path.write_text("name: bare-on\ndescription: x\ncritical_subjects: [person]\ncritical_relations:\n  - [on, road]\n")
    with pytest.raises(SemcomError, match=r"critical_relations hold True") as caught:
        load_task(path)
    assert "quote" in caught.value.hint
