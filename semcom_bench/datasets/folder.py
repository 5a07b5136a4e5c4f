"""Folder adapter: every image under a folder, without ground truth (for running the pipeline on your own photos)."""

from __future__ import annotations

import os
from pathlib import Path

from semcom_bench.datasets.base import DATASETS, DatasetAdapter, Sample
from semcom_bench.datasets.imageio import IMAGE_SUFFIXES, read_rgb, resize_rgb
from semcom_bench.errors import DatasetLayoutError, DatasetNotFoundError, SemcomError

ROOT_HINT = "pass --root DIR, a folder holding images (" + ", ".join(IMAGE_SUFFIXES) + "; sub-folders are searched)"


def find_images(root: Path) -> list[Path]:
    """Image files under ``root`` (suffix in ``IMAGE_SUFFIXES``, any case), sorted by relative path.

    Hidden files and folders (name starting with ``.``) are left out, and links to folders are not followed.
    """
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]  # .git, .cache, ...
        found += [
            Path(folder, name)
            for name in files
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES
        ]
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


@DATASETS.register("folder")
class FolderAdapter(DatasetAdapter):
    """Every image under ``root``, recursively; samples have no instances, semantic map or relations.

    Image ids are paths relative to ``root`` without the suffix, with ``/`` separators (``day/cam0/0001``). Files that
    cannot be decoded are skipped during iteration and recorded in :attr:`skipped`.

    Args:
        root: the folder.
        split: only a label copied into every sample (default ``all``).
        size: optional ``(H, W)``; images are resized bilinearly.
    """

    name = "folder"

    def __init__(self, root: str | Path | None, split: str = "all", size: tuple[int, int] | None = None) -> None:
        super().__init__(split)
        if root is None:
            raise DatasetNotFoundError("the folder adapter needs a root folder", hint=ROOT_HINT)
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            state = "is not a folder" if self.root.exists() else "does not exist"
            raise DatasetNotFoundError(f"image folder {self.root} {state}", hint=ROOT_HINT)
        self.size = size
        self._paths: dict[str, Path] = {}
        for path in find_images(self.root):
            image_id = path.relative_to(self.root).with_suffix("").as_posix()
            if image_id in self._paths:  # e.g. a.jpg next to a.png: ids must name one file
                raise DatasetLayoutError(
                    f"{self._paths[image_id]} and {path} both have image id {image_id!r}",
                    hint="image ids drop the suffix; rename or remove one of the two files",
                )
            self._paths[image_id] = path
        if not self._paths:
            raise DatasetLayoutError(
                f"no images under {self.root} (searched sub-folders for {', '.join(IMAGE_SUFFIXES)})", hint=ROOT_HINT
            )

    def ids(self) -> list[str]:
        return list(self._paths)

    def path_of(self, image_id: str) -> Path:
        return self._paths[image_id]

    def load(self, image_id: str) -> Sample:
        path = self._paths.get(image_id)
        if path is None:
            raise SemcomError(
                f"no image {image_id!r} under {self.root}",
                hint="image ids are paths relative to the root without the suffix, e.g. " + next(iter(self._paths)),
            )
        image = read_rgb(path)
        if self.size is not None:
            image = resize_rgb(image, self.size)
        return Sample(image_id, self.name, self.split, path, image, instances=[], semantic=None, relations=None)
