"""The annotation stages' roles and the typed values they hand each other.

    Sample --Detector--> Scene --RelationPredictor--> [Triplet] --Labeler(task)--> LabelResult
                                  \\______________ patch tiers, TOIF (task-critical triplets and mask) ______/

Shapes: ``Scene.image`` is ``(H, W, 3)`` uint8 RGB; ``Scene.semantic`` is ``(H, W)`` uint8 Cityscapes label ids or
``None``; ``Detection.mask`` is ``(H, W)`` bool or ``None``; boxes are ``(x0, y0, x1, y1)`` half-open pixels.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semcom_bench.datasets.base import Relation, Sample
from semcom_bench.registry import Registry
from semcom_bench.tasks import Task


@dataclass(frozen=True)
class Detection:
    """One object of an image as the pipeline sees it; ``object_id`` is unique within the image."""

    object_id: int
    class_name: str
    bbox: tuple[float, float, float, float]
    mask: np.ndarray | None = field(default=None, compare=False, repr=False)
    score: float | None = None
    source: str = "gt"


@dataclass
class Scene:
    """An image with its detected objects: the input of relation prediction and labelling."""

    image_id: str
    image: np.ndarray
    objects: list[Detection]
    semantic: np.ndarray | None = None
    gt_relations: list[Relation] | None = None  # the dataset's own relations, read only by the `gt` predictor

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    def object(self, object_id: int) -> Detection:
        """The detection with ``object_id``."""
        return next(obj for obj in self.objects if obj.object_id == object_id)


@dataclass(frozen=True)
class Triplet:
    """``<subject, predicate, object>``; the object is an instance (``object_id``) or a stuff class (``object_id`` None).

    ``object_class`` is always set: the object instance's class or the stuff name (``road``, ``sidewalk``...).
    """

    subject_id: int
    predicate: str
    object_id: int | None
    object_class: str
    score: float | None = None
    source: str = "geometric"


@dataclass(frozen=True)
class ObjectLabel:
    """The importance tier of one object (0 background, 1 low, 2 medium, 3 high) with a one-line rationale."""

    object_id: int
    importance: int
    rationale: str


@dataclass
class LabelResult:
    """A labeler's answer for one image.

    ``error`` is set when the image could not be labelled (then ``labels`` is empty: nothing is guessed);
    ``calls`` holds ``llm_calls`` rows of the requests made, if any.
    """

    labels: list[ObjectLabel]
    source: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


@dataclass
class RelationResult:
    """A relation predictor's answer for one image: ``error`` set means no triplets are known (none are guessed)."""

    triplets: list[Triplet]
    source: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


NO_COST: dict[str, Any] = {"requests": 0, "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0}


class Detector(ABC):
    """Stage 1: a sample's objects and semantic map."""

    name: str = ""

    @abstractmethod
    def detect(self, sample: Sample) -> Scene:
        """Objects of ``sample`` (and its semantic map where one is known or predicted)."""


class RelationPredictor(ABC):
    """Stage 2: triplets among a scene's objects and between objects and stuff regions."""

    name: str = ""

    @abstractmethod
    def predict(self, scene: Scene) -> list[Triplet]:
        """Triplets of ``scene``; predicates come from ``semcom_bench/schemas/predicates.yaml``."""

    def predict_result(self, scene: Scene) -> RelationResult:
        """:meth:`predict` as a value with the requests it made; predictors that call servers override it."""
        return RelationResult(self.predict(scene), self.name)

    def estimate(self, scene: Scene) -> dict[str, Any]:
        """Requests, tokens and cost :meth:`predict` would spend on ``scene`` (``--dry-run``); none by default."""
        return dict(NO_COST)


class Labeler(ABC):
    """Stage 3: an importance tier per object for one task."""

    name: str = ""

    @abstractmethod
    def label(self, scene: Scene, triplets: list[Triplet], task: Task) -> LabelResult:
        """Tiers of every object of ``scene`` for ``task``, or a result with ``error`` set."""

    def estimate(self, scene: Scene, task: Task, triplets: list[Triplet] | None = None) -> dict[str, Any]:
        """Requests, tokens and cost :meth:`label` would spend on ``scene`` (``--dry-run``); none by default.

        ``triplets`` are passed when known, so that a labeler whose prompt lists them can recognise a cached answer.
        """
        return dict(NO_COST)


DETECTORS: Registry[type[Detector]] = Registry("detector")
RELATION_PREDICTORS: Registry[type[RelationPredictor]] = Registry("relation predictor")
LABELERS: Registry[type[Labeler]] = Registry("labeler")
