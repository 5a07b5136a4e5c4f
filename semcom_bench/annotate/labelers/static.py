"""The `static` labeler: OOSC's task-blind baseline, a fixed tier per class."""

from __future__ import annotations

from semcom_bench.annotate.base import LABELERS, Labeler, LabelResult, ObjectLabel, Scene, Triplet
from semcom_bench.tasks import Task

STATIC_TIERS: dict[str, int] = {
    "person": 3,
    "rider": 3,
    "car": 2,
    "truck": 2,
    "bus": 2,
    "caravan": 2,
    "trailer": 2,
    "train": 2,
    "motorcycle": 2,
    "bicycle": 2,
}
"""Tier by class: people 3 (high), vehicles 2 (medium); every other class gets :data:`OTHER_TIER`."""
OTHER_TIER = 1


@LABELERS.register("static")
class StaticLabeler(Labeler):
    """Tiers from :data:`STATIC_TIERS`, whatever the task or the scene; source ``"static"``."""

    name = "static"

    def label(self, scene: Scene, triplets: list[Triplet], task: Task) -> LabelResult:
        labels = [
            ObjectLabel(obj.object_id, STATIC_TIERS.get(obj.class_name, OTHER_TIER), f"class {obj.class_name}")
            for obj in scene.objects
        ]
        return LabelResult(labels=labels, source="static")
