"""The `yolo` detector: an ultralytics model from a weights file on disk, never a download.

COCO classes that exist in Cityscapes are renamed to the Cityscapes name so the label table, task criteria and
heuristics apply; other classes keep their COCO name. Segmentation models give instance masks; when the dataset has
no semantic map, one is painted from those masks (things only: COCO models know no road or sidewalk).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from cityscapesscripts.helpers.labels import name2label
from PIL import Image, ImageDraw

from semcom_bench.annotate.base import DETECTORS, Detection, Detector, Scene
from semcom_bench.datasets.base import Sample
from semcom_bench.errors import SemcomError

COCO_TO_CITYSCAPES = {"stop sign": "traffic sign"}
WEIGHTS_HINT = (
    "download a checkpoint such as yolov8n-seg.pt from the Ultralytics assets releases "
    "(github.com/ultralytics/assets/releases) on a machine with internet, copy it here and pass --weights PATH; "
    "a model YAML such as yolov8n-seg.yaml builds an untrained model (for wiring tests only)"
)


def import_ultralytics() -> ModuleType:
    """Import ultralytics offline and without its process-wide side effects; use this instead of a plain import."""
    # It reads these at import: no update checks or downloads, settings in a temp folder, not $HOME.
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "semcom-bench-ultralytics"))
    original_open = Image.open
    import ultralytics

    # Its import replaces PIL.Image.open with one that pip-installs a package when a file is not an image;
    # Pillow's own opener (HEIF comes from pillow-heif here) keeps corrupt files a plain, recorded error.
    Image.open = original_open
    return ultralytics


def cityscapes_name(coco_name: str) -> str:
    """The Cityscapes class name of a COCO class where one exists, else the COCO name."""
    name = COCO_TO_CITYSCAPES.get(coco_name, coco_name)
    return name if name in name2label else coco_name


def polygon_mask(polygon: np.ndarray, height: int, width: int) -> np.ndarray:
    """Rasterise an ``(N, 2)`` pixel polygon into an ``(H, W)`` bool mask."""
    canvas = Image.new("L", (width, height), 0)
    if len(polygon) >= 3:
        ImageDraw.Draw(canvas).polygon([tuple(p) for p in polygon.tolist()], fill=1)
    return np.asarray(canvas, dtype=bool)


def detections_from_result(result: Any, source: str) -> list[Detection]:
    """Convert one ultralytics ``Results`` into detections with ids 1..N in descending confidence."""
    height, width = result.orig_shape
    boxes = result.boxes.xyxy.cpu().numpy() if result.boxes is not None else np.zeros((0, 4))
    classes = result.boxes.cls.cpu().numpy().astype(int) if result.boxes is not None else np.zeros(0, int)
    scores = result.boxes.conf.cpu().numpy() if result.boxes is not None else np.zeros(0)
    polygons = result.masks.xy if result.masks is not None else None
    detections = []
    for rank, i in enumerate(np.argsort(-scores, kind="stable"), start=1):
        x0, y0, x1, y1 = np.clip(boxes[i], 0, [width, height, width, height])
        mask = polygon_mask(polygons[i], height, width) if polygons is not None else None
        name = cityscapes_name(result.names[int(classes[i])])
        detections.append(Detection(rank, name, (float(x0), float(y0), float(x1), float(y1)), mask, float(scores[i]), source))
    return detections


def semantic_from_masks(detections: list[Detection], height: int, width: int) -> np.ndarray | None:
    """A Cityscapes label-id map painted from instance masks (largest first, so small objects stay visible)."""
    masked = [d for d in detections if d.mask is not None and d.class_name in name2label]
    if not masked:
        return None
    semantic = np.zeros((height, width), np.uint8)
    for det in sorted(masked, key=lambda d: -int(d.mask.sum())):  # type: ignore[union-attr]
        semantic[det.mask] = name2label[det.class_name].id
    return semantic


@DETECTORS.register("yolo")
class YoloDetector(Detector):
    """An ultralytics YOLO model (detection or segmentation) loaded from ``weights``.

    Args:
        weights: a ``.pt`` checkpoint on disk, or a model ``.yaml`` (untrained, for wiring tests).
        conf: confidence threshold.
        device: torch device string (``cpu``, ``cuda:0``); ``None`` lets ultralytics choose.
    """

    name = "yolo"

    def __init__(self, weights: str | Path | None = None, conf: float = 0.25, device: str | None = None) -> None:
        if weights is None:
            raise SemcomError("the yolo detector needs --weights", hint=WEIGHTS_HINT)
        path = Path(weights)
        if path.suffix not in (".yaml", ".yml") and not path.is_file():
            raise SemcomError(f"YOLO weights {path} not found (nothing is downloaded)", hint=WEIGHTS_HINT)
        self.model = import_ultralytics().YOLO(str(path))
        self.conf = conf
        self.device = device
        self.source = f"yolo:{path.name}"

    def detect(self, sample: Sample) -> Scene:
        bgr = np.ascontiguousarray(sample.image[:, :, ::-1])  # ultralytics takes arrays in OpenCV order
        result = self.model.predict(bgr, conf=self.conf, device=self.device, verbose=False)[0]
        objects = detections_from_result(result, self.source)
        semantic = sample.semantic
        if semantic is None:
            semantic = semantic_from_masks(objects, sample.height, sample.width)
        return Scene(sample.image_id, sample.image, objects, semantic, sample.relations)
