"""Benchmark data: a label set's images with the labels the metrics need, read only through the label-set tables."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from semcom_bench.datasets.imageio import read_rgb, resize_rgb
from semcom_bench.errors import SemcomError, ShapeMismatchError
from semcom_bench.schemas import LabelSet, decode_mask
from semcom_bench.schemes.base import TransmitterLabels


@dataclass
class LabeledImage:
    """One benchmark image: ``image`` ``(H, W, 3)`` uint8, ``task_mask`` ``(H, W)`` bool, ``patch_tiers``
    ``(grid_h, grid_w)`` uint8 with its ``patch_size`` (``None`` where the label set has no patch tiers)."""

    image_id: str
    image: np.ndarray
    task_mask: np.ndarray
    patch_tiers: np.ndarray | None
    patch_size: int | None


class BenchmarkData:
    """The images of a label set at the resolution they were labelled, with task masks and patch tiers.

    Args:
        labelset: label-set folder (``semcom-bench annotate --out``).
        limit: only the first ``limit`` images (in label-set order).

    Raises a :class:`SemcomError` when the label set has no task mask for its task (the TC-PSNR needs one), when an
    image file changed since it was labelled, or when images differ in size (a batch needs one resolution).
    """

    def __init__(self, labelset: str | Path, limit: int | None = None) -> None:
        self.labels = LabelSet.open(labelset)
        self.task = str(self.labels.manifest["config"].get("task", ""))
        images = self.labels.read("images").to_pylist()[:limit] if limit else self.labels.read("images").to_pylist()
        if not images:
            raise SemcomError(f"label set {labelset} has no images", hint="annotate a dataset split first")
        sizes = {(r["height"], r["width"]) for r in images}
        if len(sizes) > 1:
            raise ShapeMismatchError(
                f"label set {labelset} mixes image sizes {sorted(sizes)}",
                hint="annotate with --size HxW so that every image has one resolution",
            )
        self.resolution: tuple[int, int] = sizes.pop()
        self._images = images
        masks = {r["image_id"]: r for r in self.labels.read("task_masks").to_pylist() if r["task"] == self.task}
        missing = [r["image_id"] for r in images if r["image_id"] not in masks]
        if missing:
            raise SemcomError(
                f"label set {labelset} has no task mask for task {self.task!r} on {len(missing)} image(s), "
                f"e.g. {missing[0]}; TC-PSNR needs it",
                hint=f"re-run `semcom-bench annotate ... --task {self.task}` into this label set",
            )
        self._masks = masks
        self._patches = {r["image_id"]: r for r in self.labels.read("patches").to_pylist()}
        self._cache: dict[int, LabeledImage] = {}

    def __len__(self) -> int:
        return len(self._images)

    @property
    def image_ids(self) -> list[str]:
        return [r["image_id"] for r in self._images]

    def __getitem__(self, index: int) -> LabeledImage:
        if index not in self._cache:
            self._cache[index] = self._load(index)
        return self._cache[index]

    def _load(self, index: int) -> LabeledImage:
        row = self._images[index]
        path = Path(row["path"])
        if hashlib.sha256(path.read_bytes()).hexdigest() != row["sha256"]:
            raise SemcomError(f"{path} changed since it was labelled", hint="re-annotate the dataset split")
        image = np.array(resize_rgb(read_rgb(path), self.resolution))  # writable: torch refuses read-only memory
        patches = self._patches.get(row["image_id"])
        tiers = None
        if patches is not None:
            tiers = np.asarray(patches["importance"], np.uint8).reshape(patches["grid_h"], patches["grid_w"])
        return LabeledImage(
            row["image_id"], image, decode_mask(self._masks[row["image_id"]]["mask"]), tiers,
            patches["patch_size"] if patches is not None else None,
        )

    def labels_identity(self) -> str:
        """The labels a transmitter reads, in words: the labeler and ``sha256:`` + 8 hex digits of the patch-tier
        and task-mask tables' bytes (two label sets that tier the images differently never share it)."""
        digest = hashlib.sha256()
        for table in ("patches", "task_masks"):
            digest.update(self.labels.table_path(table).read_bytes())
        return f"{self.labels.manifest['config'].get('labeler', '?')} labels sha256:{digest.hexdigest()[:8]}"

    def check_same_images(self, other: BenchmarkData) -> None:
        """Raise :class:`SemcomError` unless ``other`` labels the same image files, in the same order and size."""
        ours = [(r["image_id"], r["sha256"]) for r in self._images]
        theirs = [(r["image_id"], r["sha256"]) for r in other._images]
        if ours != theirs or self.resolution != other.resolution:
            raise SemcomError(
                f"label sets {self.labels.path} and {other.labels.path} do not hold the same images "
                f"({len(ours)} vs {len(theirs)} images at {self.resolution} vs {other.resolution})",
                hint="annotate the same dataset split at the same --size (and --limit) for both",
            )

    def transmitter_labels(self, indices: list[int]) -> TransmitterLabels:
        """The transmitter's view of images ``indices``: their patch tiers and task masks.

        Raises :class:`SemcomError` naming an image without patch tiers (its labelling failed) or a label set whose
        images have different patch grids.
        """
        items = [self[i] for i in indices]
        missing = [item.image_id for item in items if item.patch_tiers is None]
        if missing:
            raise SemcomError(f"{len(missing)} image(s) have no patch tiers, e.g. {missing[0]}: a scheme that reads "
                              "importance needs them", hint="re-run the label set's annotate command to label them")
        if len({(item.patch_size, item.patch_tiers.shape) for item in items}) > 1:
            raise ShapeMismatchError("the images' patch grids differ", hint="annotate with one --patch-size")
        return TransmitterLabels(
            patch_tiers=torch.from_numpy(np.stack([item.patch_tiers for item in items])).long(),
            patch_size=int(items[0].patch_size),
            task_mask=torch.from_numpy(np.stack([item.task_mask for item in items])).bool(),
        )

    def batch(self, indices: list[int]) -> torch.Tensor:
        """``(B, 3, H, W)`` float32 images in ``[0, 1]``."""
        stack = np.stack([self[i].image for i in indices])
        return torch.from_numpy(stack).permute(0, 3, 1, 2).float().div(255.0)
