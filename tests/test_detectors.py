"""Detectors: ground truth passes instances through; YOLO loads from disk only and converts ultralytics results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cityscapesscripts.helpers.labels import name2label

from semcom_bench.annotate.detectors.gt import GroundTruthDetector
from semcom_bench.annotate.detectors.yolo import (
    YoloDetector,
    detections_from_result,
    import_ultralytics,
    semantic_from_masks,
)
from semcom_bench.datasets.base import DATASETS
from semcom_bench.errors import SemcomError


def bus_folder(tmp_path: Path) -> Path:
    ultralytics = import_ultralytics()
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "bus.jpg").write_bytes((Path(ultralytics.__file__).parent / "assets" / "bus.jpg").read_bytes())
    return folder


def test_gt_detector_keeps_instance_ids_masks_and_relations(synth_root: Path) -> None:
    adapter = DATASETS.get("synthcity")(root=synth_root, split="train")
    sample = adapter.load(adapter.ids()[0])
    scene = GroundTruthDetector().detect(sample)
    assert [o.object_id for o in scene.objects] == [i.instance_id for i in sample.instances]
    assert all(np.array_equal(o.mask, i.mask) for o, i in zip(scene.objects, sample.instances, strict=True))
    assert scene.semantic is sample.semantic and scene.gt_relations == sample.relations
    assert {o.source for o in scene.objects} == {"gt"}


def test_gt_detector_refuses_a_plain_folder(tmp_path: Path) -> None:
    sample = DATASETS.get("folder")(root=bus_folder(tmp_path)).load("bus")
    with pytest.raises(SemcomError, match="no ground-truth instances") as err:
        GroundTruthDetector().detect(sample)
    assert "--detector yolo" in str(err.value)


def test_missing_weights_say_where_to_get_them(tmp_path: Path) -> None:
    for weights in (None, tmp_path / "yolov8n-seg.pt"):
        with pytest.raises(SemcomError) as err:
            YoloDetector(weights)
        assert "ultralytics/assets/releases" in str(err.value)
    assert not (tmp_path / "yolov8n-seg.pt").exists()  # nothing was fetched


@pytest.mark.slow
def test_untrained_yolo_runs_on_a_real_photo_through_the_folder_adapter(tmp_path: Path) -> None:
    sample = DATASETS.get("folder")(root=bus_folder(tmp_path)).load("bus")
    detector = YoloDetector(Path("yolov8n-seg.yaml"), conf=0.0)
    scene = detector.detect(sample)
    assert scene.image.shape == (1080, 810, 3) and scene.image_id == "bus"
    for obj in scene.objects:  # an untrained model may find nothing; whatever it finds must be well formed
        x0, y0, x1, y1 = obj.bbox
        assert 0 <= x0 <= x1 <= 810 and 0 <= y0 <= y1 <= 1080
        assert obj.source == "yolo:yolov8n-seg.yaml"


@pytest.mark.parametrize(("importer", "patched"), [
    ("import ultralytics", True),  # the control: a plain import does replace Pillow's opener
    ("from semcom_bench.annotate.detectors.yolo import import_ultralytics; import_ultralytics()", False),
])
def test_importing_ultralytics_leaves_pillow_alone(importer: str, patched: bool) -> None:
    code = f"from PIL import Image; before = Image.open; {importer}; print(Image.open is not before)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(patched)


def test_results_conversion_orders_renames_and_rasterises() -> None:
    import_ultralytics()
    from ultralytics.engine.results import Results

    h, w = 64, 96
    masks = torch.zeros((2, h, w))
    masks[0, 10:30, 10:40] = 1
    masks[1, 40:60, 50:90] = 1
    # rows: x0, y0, x1, y1, confidence, COCO class (11 = stop sign, 2 = car)
    boxes = torch.tensor([[10.0, 10, 40, 30, 0.4, 11], [50, 40, 90, 60, 0.9, 2]])
    names = {i: f"class{i}" for i in range(80)} | {2: "car", 11: "stop sign"}
    result = Results(np.zeros((h, w, 3), np.uint8), "x.jpg", names, boxes=boxes, masks=masks)
    detections = detections_from_result(result, "yolo:test")
    assert [d.object_id for d in detections] == [1, 2]
    assert [d.class_name for d in detections] == ["car", "traffic sign"]  # most confident first, Cityscapes names
    assert detections[0].score == pytest.approx(0.9)
    car = detections[0].mask
    assert car is not None and car.shape == (h, w)
    inside = car[42:58, 52:88].mean()
    assert inside > 0.95 and car.sum() < 1.2 * 20 * 40
    semantic = semantic_from_masks(detections, h, w)
    assert semantic is not None
    assert (semantic[car] == name2label["car"].id).all()
    assert (semantic[~(car | detections[1].mask)] == 0).all()
