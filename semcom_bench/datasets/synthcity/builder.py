"""Collects a scene's labelled polygons in drawing order while the painter fills the RGB image alongside."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from semcom_bench.datasets.synthcity.geometry import Camera, IntPolygon, Point, clip_to_image
from semcom_bench.datasets.synthcity.textures import Painter
from semcom_bench.datasets.synthcity.truth import ThingRecord


class SceneBuilder:
    """Drawing state of one scene: camera, painter, its generator, and the polygons.json objects so far."""

    def __init__(self, camera: Camera, painter: Painter, rng: np.random.Generator) -> None:
        self.cam = camera
        self.painter = painter
        self.rng = rng
        self.polygons: list[tuple[str, IntPolygon]] = []
        self.records: list[ThingRecord] = []

    def stuff(self, label: str, points: Sequence[Point]) -> IntPolygon | None:
        """Append a polygon of a class without instances (or a crowd group); ``None`` when it is off-image."""
        poly = clip_to_image(points, self.cam.width, self.cam.height)
        if poly is not None:
            self.polygons.append((label, poly))
        return poly

    def thing(self, record: ThingRecord, points: Sequence[Point]) -> IntPolygon | None:
        """Append one instance polygon and keep its record; ``None`` (and no record) when it is off-image."""
        poly = self.stuff(record.class_name, points)
        if poly is not None:
            record.polygon_index = len(self.polygons) - 1
            self.records.append(record)
        return poly
