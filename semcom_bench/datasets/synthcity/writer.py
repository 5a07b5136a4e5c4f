"""Writing a synthcity dataset to disk in the Cityscapes layout, atomically and resumably."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from semcom_bench.datasets.synthcity.render import (
    CITY_PATTERN,
    MAX_INDEX,
    RenderedScene,
    check_name,
    check_seed,
    check_size,
    image_id_of,
    render_scene,
)
from semcom_bench.datasets.synthcity.truth import GENERATOR_NAME, read_truth
from semcom_bench.errors import SemcomError

log = logging.getLogger(__name__)

SPLIT_PATTERN = re.compile(r"[A-Za-z0-9_-]+")  # Cityscapes splits include "train_extra"
PNG_LEVEL = 1  # fast zlib: encoding dominates the write time, and the files are still compressed
TMP_SUFFIX = ".synthtmp"
# suffix of each file of an image, by role; "truth" lives outside gtFine so the Cityscapes layout stays clean
SUFFIXES = {
    "image": "_leftImg8bit.png",
    "labelIds": "_gtFine_labelIds.png",
    "instanceIds": "_gtFine_instanceIds.png",
    "color": "_gtFine_color.png",
    "polygons": "_gtFine_polygons.json",
    "truth": "_truth.json",
}
FOLDERS = {"image": "leftImg8bit", "truth": GENERATOR_NAME}  # everything else lives under gtFine


@dataclass
class SynthReport:
    """What :func:`generate` did."""

    root: Path
    split: str
    city: str
    n_requested: int
    n_written: int = 0
    n_skipped_existing: int = 0
    seconds: float = 0.0
    instances_per_class: dict[str, int] = field(default_factory=dict)  # visible instances over all n images
    critical_per_task: dict[str, int] = field(default_factory=dict)  # task-critical instances over all n images

    @property
    def images_per_second(self) -> float:
        """Rate of the images written in this run (skipped ones excluded)."""
        return self.n_written / self.seconds if self.seconds > 0 else 0.0


def truth_path(root: Path, split: str, city: str, image_id: str) -> Path:
    """Path of the truth sidecar of ``image_id``: ``{root}/synthcity/{split}/{city}/{image_id}_truth.json``."""
    return Path(root) / GENERATOR_NAME / split / city / f"{image_id}{SUFFIXES['truth']}"


def scene_paths(root: Path, split: str, city: str, image_id: str) -> dict[str, Path]:
    """Paths of all six files of ``image_id``, by role (keys of :data:`SUFFIXES`)."""
    return {
        role: Path(root) / FOLDERS.get(role, "gtFine") / split / city / f"{image_id}{suffix}"
        for role, suffix in SUFFIXES.items()
    }


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder, so ``path`` is either absent or complete."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of a uint8 or uint16 array, at the fast compression level."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=PNG_LEVEL)
    return buf.getvalue()


def encode_scene(scene: RenderedScene) -> dict[str, bytes]:
    """The bytes of every file of a scene, by role."""
    return {
        "image": encode_png(scene.image),
        "labelIds": encode_png(scene.label_ids),
        "instanceIds": encode_png(scene.instance_ids),  # uint16 array -> 16-bit greyscale PNG, as Cityscapes ships
        "color": encode_png(scene.color),
        "polygons": json.dumps(scene.polygons, separators=(",", ":")).encode(),
        "truth": json.dumps(scene.truth, indent=1).encode(),
    }


def _existing_truth(paths: dict[str, Path], seed: int, index: int, size: tuple[int, int]) -> dict[str, Any] | None:
    """The sidecar of a complete earlier image, or ``None`` when the image must be (re)written.

    An unreadable sidecar means the image is rewritten; one from other generator settings is an error, since
    mixing two datasets in one folder would go unnoticed.
    """
    if not all(p.is_file() for p in paths.values()):
        return None
    try:
        truth = read_truth(paths["truth"])
    except SemcomError as err:
        log.warning("rewriting %s: %s", paths["truth"].name, err)
        return None
    found = truth["generator"]
    wanted = {"seed": seed, "index": index, "size": list(size)}
    if any(found.get(k) != v for k, v in wanted.items()):
        raise SemcomError(
            f"{paths['truth']} was generated with seed={found.get('seed')} size={found.get('size')}, "
            f"not seed={seed} size={list(size)}",
            hint="generate into an empty folder, or repeat the earlier seed and size to resume",
        )
    return truth


def _remove_stale_temps(folders: list[Path]) -> None:
    """Temporary files left by a killed run (a finished write never leaves one)."""
    for folder in folders:
        for tmp in folder.glob(f".*{TMP_SUFFIX}"):
            tmp.unlink(missing_ok=True)


def generate(
    out: Path,
    n: int,
    seed: int = 0,
    size: tuple[int, int] = (256, 512),
    split: str = "train",
    city: str = "synthcity",
    progress: Callable[[int], None] | None = None,
) -> SynthReport:
    """Write ``n`` procedural street scenes under ``out`` in the Cityscapes layout, plus a truth sidecar each.

    Image ``i`` is ``render_scene(seed, i, size)``: the same seed gives the same bytes whatever ``n``. Every file is
    written atomically, and an image whose six files all exist (with a readable sidecar from the same seed and size)
    is skipped, so an interrupted run resumes where it stopped (temporary files a killed run left are removed, so run
    one generator per folder at a time). ``progress(k)`` is called after each image with the number of images done.
    """
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_INDEX + 1:
        raise SemcomError(f"n must be an integer in 1..{MAX_INDEX + 1}, got {n!r}")
    seed = check_seed(seed)
    size = check_size(size)
    check_name("split", split, SPLIT_PATTERN)
    check_name("city", city, CITY_PATTERN)
    if progress is not None and not callable(progress):
        raise SemcomError(f"progress must be a callable taking the number of images done, got {progress!r}")
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise SemcomError(f"output {root} exists and is not a folder", hint="choose another --out")
    sample = scene_paths(root, split, city, image_id_of(city, 0))
    folders = sorted({p.parent for p in sample.values()})
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(folders)

    report = SynthReport(root=root, split=split, city=city, n_requested=n)
    instances: Counter[str] = Counter()
    critical: Counter[str] = Counter()
    start = time.perf_counter()
    for index in range(n):
        image_id = image_id_of(city, index)
        paths = scene_paths(root, split, city, image_id)
        truth = _existing_truth(paths, seed, index, size)
        if truth is None:
            scene = render_scene(seed, index, size, city=city)
            for role, data in encode_scene(scene).items():
                atomic_write(paths[role], data)
            truth = scene.truth
            report.n_written += 1
        else:
            report.n_skipped_existing += 1
        for obj in truth["objects"]:
            instances[obj["class_name"]] += 1
            critical.update(task for task, flag in obj["task_critical"].items() if flag)
        if progress is not None:
            progress(index + 1)
    report.seconds = time.perf_counter() - start
    report.instances_per_class = dict(sorted(instances.items()))
    report.critical_per_task = dict(sorted(critical.items()))
    return report

