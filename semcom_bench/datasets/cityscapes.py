"""Cityscapes adapter: the official ``leftImg8bit`` / ``gtFine`` layout, label table from ``cityscapesscripts``.

Instances come from ``*_gtFine_instanceIds.png``: pixels of a class with instances carry ``classId * 1000 + k``; crowd
regions (``cargroup``, ``persongroup``...) carry the bare class id and stay semantic-only (in ``semantic``, not in
``instances``). An optional resize keeps masks exact by nearest-neighbour resampling of the id maps.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from cityscapesscripts.helpers.labels import assureSingleInstanceName, id2label

from semcom_bench.datasets.base import DATASETS, DatasetAdapter, Instance, Sample
from semcom_bench.datasets.imageio import read_label_map, read_rgb, resize_nearest, resize_rgb
from semcom_bench.errors import (
    AnnotationMissingError,
    CorruptFileError,
    DatasetLayoutError,
    DatasetNotFoundError,
    ShapeMismatchError,
    UnknownClassError,
)

ENV_ROOT = "CITYSCAPES_DATASET"
DOWNLOAD_HINT = (
    "download leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from https://www.cityscapes-dataset.com/downloads/ "
    f"(free account), unzip both into one folder and pass --root DIR or set {ENV_ROOT}; "
    "or make a synthetic stand-in with `semcom-bench datasets synth --out DIR`"
)
IMAGE_SUFFIX = "_leftImg8bit.png"
KNOWN_LABEL_IDS = np.array(sorted(i for i in id2label if i >= 0), dtype=np.int32)


def instances_from_ids(instance_ids: np.ndarray) -> list[Instance]:
    """Instances of a Cityscapes ``instanceIds`` map (``(H, W)`` int), in increasing id order."""
    instances = []
    for value in np.unique(instance_ids):
        if value < 1000:  # stuff, or a crowd region without an instance number
            continue
        label = id2label.get(int(value) // 1000)
        if label is None or not label.hasInstances:
            raise UnknownClassError(f"instance id {value} encodes class id {value // 1000}, which has no instances")
        mask = instance_ids == value
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        bbox = (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))
        instances.append(Instance(int(value), label.name, bbox, mask))
    return instances


def check_polygon_labels(path: Path) -> None:
    """Raise :class:`UnknownClassError` if ``*_gtFine_polygons.json`` names a class the label table lacks."""
    try:
        objects = json.loads(path.read_text())["objects"]
        names = {obj["label"] for obj in objects}
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise CorruptFileError(f"cannot parse {path}: {err!r}", hint="re-extract gtFine_trainvaltest.zip") from None
    unknown = sorted(n for n in names if assureSingleInstanceName(n) is None)
    if unknown:
        raise UnknownClassError(
            f"{path} uses class names the Cityscapes label table does not know: {', '.join(unknown)}",
            hint="fix the annotation, or map the names to cityscapesscripts.helpers.labels names",
        )


@DATASETS.register("cityscapes")
class CityscapesAdapter(DatasetAdapter):
    """Reads ``{root}/leftImg8bit/{split}/{city}/*_leftImg8bit.png`` with its ``gtFine`` annotations.

    Args:
        root: dataset folder; defaults to the ``CITYSCAPES_DATASET`` environment variable.
        split: ``train``, ``val`` or ``test`` (any folder under ``leftImg8bit``).
        size: optional ``(H, W)``; the image is resized bilinearly, id maps by nearest neighbour.
    """

    name = "cityscapes"
    root_hint = DOWNLOAD_HINT

    def __init__(self, root: str | Path | None = None, split: str = "train", size: tuple[int, int] | None = None) -> None:
        super().__init__(split)
        self.root = self._resolve_root(root)
        self.size = size
        image_dir = self.root / "leftImg8bit"
        if not image_dir.is_dir():
            raise DatasetLayoutError(
                f"{self.root} has no leftImg8bit folder; expected leftImg8bit/{{split}}/{{city}}/*{IMAGE_SUFFIX}",
                hint=self.root_hint,
            )
        split_dir = image_dir / split
        if not split_dir.is_dir():
            found = ", ".join(sorted(p.name for p in image_dir.iterdir() if p.is_dir())) or "none"
            raise DatasetLayoutError(f"{image_dir} has no split {split!r} (found: {found})", hint="pass --split")
        self._images = {p.name[: -len(IMAGE_SUFFIX)]: p for p in sorted(split_dir.glob(f"*/*{IMAGE_SUFFIX}"))}
        if not self._images:
            raise DatasetLayoutError(f"no *{IMAGE_SUFFIX} files under {split_dir}/{{city}}/", hint=self.root_hint)

    def _resolve_root(self, root: str | Path | None) -> Path:
        if root is None:
            env = os.environ.get(ENV_ROOT)
            if not env:
                raise DatasetNotFoundError(f"no Cityscapes root given and {ENV_ROOT} is not set", hint=self.root_hint)
            root = env
        path = Path(root).expanduser()
        if not path.is_dir():
            raise DatasetNotFoundError(f"dataset root {path} does not exist", hint=self.root_hint)
        return path

    def ids(self) -> list[str]:
        return list(self._images)

    def path_of(self, image_id: str) -> Path:
        return self._images[image_id]

    def gt_path(self, image_id: str, kind: str) -> Path:
        """Path of ``{image_id}_gtFine_{kind}`` (kind: ``labelIds.png``, ``instanceIds.png``, ``polygons.json``)."""
        city = self._images[image_id].parent.name
        return self.root / "gtFine" / self.split / city / f"{image_id}_gtFine_{kind}"

    def load(self, image_id: str) -> Sample:
        label_path = self.gt_path(image_id, "labelIds.png")
        instance_path = self.gt_path(image_id, "instanceIds.png")
        for path in (label_path, instance_path):
            if not path.is_file():
                raise AnnotationMissingError(
                    f"{image_id} has no annotation {path}",
                    hint="extract gtFine_trainvaltest.zip into the same root as leftImg8bit",
                )
        image = read_rgb(self._images[image_id])
        semantic = read_label_map(label_path)
        instance_ids = read_label_map(instance_path)
        if not (image.shape[:2] == semantic.shape == instance_ids.shape):
            raise ShapeMismatchError(
                f"{image_id}: image {image.shape[:2]}, labelIds {semantic.shape}, instanceIds {instance_ids.shape} differ",
                hint="the annotation belongs to another image or was resized; re-extract gtFine",
            )
        unknown = np.setdiff1d(np.unique(semantic), KNOWN_LABEL_IDS)
        if unknown.size:
            raise UnknownClassError(f"{label_path} holds label ids the Cityscapes table lacks: {unknown.tolist()}")
        polygons = self.gt_path(image_id, "polygons.json")
        if polygons.is_file():
            check_polygon_labels(polygons)
        if self.size is not None:
            image = resize_rgb(image, self.size)
            semantic = resize_nearest(semantic, self.size)
            instance_ids = resize_nearest(instance_ids, self.size)
        return Sample(
            image_id=image_id,
            dataset=self.name,
            split=self.split,
            path=self._images[image_id],
            image=image,
            instances=instances_from_ids(instance_ids),
            semantic=semantic.astype(np.uint8),
        )
