"""The dataset-adapter role: what every adapter yields and how it reports files it had to skip.

Conventions shared by every adapter:

* ``image``: ``(H, W, 3)`` ``uint8`` RGB.
* ``semantic``: ``(H, W)`` ``uint8`` Cityscapes label ids (``cityscapesscripts.helpers.labels``), or ``None`` where the
  dataset has no semantic map (Visual Genome, plain folders).
* ``Instance.bbox``: ``(x0, y0, x1, y1)`` in pixels, half-open: the instance's pixels satisfy ``x0 <= x < x1`` and
  ``y0 <= y < y1``. ``Instance.mask`` is ``(H, W)`` ``bool`` or ``None`` for box-only datasets.
* ``Relation.object`` is another instance's ``instance_id`` (``int``) or a stuff class name (``str``, e.g. ``"road"``).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semcom_bench.errors import SemcomError
from semcom_bench.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Instance:
    """One object instance of an image."""

    instance_id: int
    class_name: str
    bbox: tuple[float, float, float, float]
    mask: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def area(self) -> int:
        """Pixel count of the mask, or the box area when there is no mask."""
        if self.mask is not None:
            return int(self.mask.sum())
        x0, y0, x1, y1 = self.bbox
        return int(round((x1 - x0) * (y1 - y0)))


@dataclass(frozen=True)
class Relation:
    """A ``<subject, predicate, object>`` triplet between an instance and an instance or a stuff class."""

    subject_id: int
    predicate: str
    object: int | str


@dataclass
class Sample:
    """One image with everything its dataset knows about it."""

    image_id: str
    dataset: str
    split: str
    path: Path
    image: np.ndarray
    instances: list[Instance]
    semantic: np.ndarray | None = None
    relations: list[Relation] | None = None

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True)
class SkippedItem:
    """A file an adapter could not read; the run goes on without it."""

    image_id: str
    path: Path
    reason: str


class DatasetAdapter(ABC):
    """Yields :class:`Sample` objects of one split of one dataset.

    Subclasses list their items cheaply in ``__init__`` (so a wrong root fails at once) and decode lazily in
    :meth:`load`. Iteration skips items whose files are corrupt, records them in :attr:`skipped` and logs a warning.
    """

    name: str = ""

    def __init__(self, split: str) -> None:
        self.split = split
        self.skipped: list[SkippedItem] = []

    @abstractmethod
    def ids(self) -> list[str]:
        """Image ids of the split, in a stable order."""

    @abstractmethod
    def path_of(self, image_id: str) -> Path:
        """Path of the image file of ``image_id``."""

    @abstractmethod
    def load(self, image_id: str) -> Sample:
        """Decode one sample; raises a :class:`SemcomError` subclass on bad files."""

    def __len__(self) -> int:
        return len(self.ids())

    def try_load(self, image_id: str) -> Sample | None:
        """:meth:`load`, but a bad item is recorded in :attr:`skipped` and logged, and ``None`` comes back."""
        try:
            return self.load(image_id)
        except SemcomError as err:
            self.skipped.append(SkippedItem(image_id, self.path_of(image_id), str(err)))
            log.warning("skipped %s: %s", image_id, err)
            return None

    def __iter__(self) -> Iterator[Sample]:
        for image_id in self.ids():
            sample = self.try_load(image_id)
            if sample is not None:
                yield sample


DATASETS: Registry[type[DatasetAdapter]] = Registry("dataset adapter")
