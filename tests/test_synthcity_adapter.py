"""The cityscapes adapter reading a synthcity tree gives back exactly what the generator drew."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semcom_bench.datasets.base import DATASETS
from semcom_bench.datasets.imageio import resize_nearest
from semcom_bench.datasets.synthcity import render_scene

SEED, SIZE = 7, (128, 256)  # the conftest's synth_root


def test_cityscapes_adapter_recovers_the_generators_truth(synth_root: Path) -> None:
    adapter = DATASETS.get("cityscapes")(root=synth_root, split="train")
    assert len(adapter) == 8
    for index, image_id in enumerate(adapter.ids()):
        drawn = render_scene(SEED, index, SIZE)
        sample = adapter.load(image_id)
        assert sample.image_id == drawn.image_id
        assert np.array_equal(sample.image, drawn.image)
        assert np.array_equal(sample.semantic, drawn.label_ids)
        truth = {obj["instance_id"]: obj for obj in drawn.truth["objects"]}
        assert sorted(truth) == [inst.instance_id for inst in sample.instances]
        for inst in sample.instances:
            obj = truth[inst.instance_id]
            assert inst.class_name == obj["class_name"]
            assert list(inst.bbox) == [float(v) for v in obj["bbox"]]
            assert np.array_equal(inst.mask, drawn.instance_ids == inst.instance_id)
            assert inst.area == obj["pixel_count"]


def test_synthcity_adapter_adds_the_true_relations(synth_root: Path) -> None:
    adapter = DATASETS.get("synthcity")(root=synth_root, split="train")
    for index, image_id in enumerate(adapter.ids()):
        truth = render_scene(SEED, index, SIZE).truth
        expected = sorted((o["instance_id"], r["predicate"], str(r["object"])) for o in truth["objects"] for r in o["relations"])
        got = sorted((r.subject_id, r.predicate, str(r.object)) for r in adapter.load(image_id).relations or [])
        assert got == expected


def test_resized_masks_are_the_nearest_resample_of_the_drawn_ones(synth_root: Path) -> None:
    adapter = DATASETS.get("synthcity")(root=synth_root, split="train", size=(64, 128))
    drawn = render_scene(SEED, 0, SIZE)
    sample = adapter.load(adapter.ids()[0])
    small_ids = resize_nearest(drawn.instance_ids.astype(np.int32), (64, 128))
    assert np.array_equal(sample.semantic, resize_nearest(drawn.label_ids, (64, 128)))
    assert [i.instance_id for i in sample.instances] == sorted(v for v in np.unique(small_ids) if v >= 1000)
    for inst in sample.instances:
        assert np.array_equal(inst.mask, small_ids == inst.instance_id)
    present = {i.instance_id for i in sample.instances}
    assert all(r.subject_id in present for r in sample.relations or [])
