"""``semcom-bench review push``: a label set's images as Label Studio tasks, its labels as predictions.

One project per (label set, task, round), made or reused by title, with :func:`~semcom_bench.review.config.
labeling_config`. Each image is a task (``data``: the image served through Label Studio's local-files storage, its
``image_id`` and the round) with one prediction holding all of its regions (:func:`~semcom_bench.review.regions.
prediction`). ``model_version`` names the labeller, its model and its prompt hash. Pushing twice adds no task twice:
images already in the project are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semcom_bench.errors import SemcomError
from semcom_bench.review.config import labeling_config, vocabulary
from semcom_bench.review.projects import (
    find_project,
    labelset_task,
    model_version,
    project_title,
    rows_by_image,
)
from semcom_bench.review.regions import prediction
from semcom_bench.schemas import LabelSet


@dataclass
class PushReport:
    """What a push did: the project, and the images it added and skipped (already there)."""

    project_id: int
    title: str
    added: list[str]
    skipped: list[str]


def push(labelset_path: str | Path, client: Any, files_root: str | Path, task: str | None = None, round_: int = 1,
         sample: int | None = None, only: list[str] | None = None) -> PushReport:
    """Push the label set's images (those in ``only``, then the first ``sample`` in id order, or all) to the project
    of ``task`` (default: the label set's) and ``round_``; ``files_root`` is the server's local-files document root,
    which must hold the images."""
    labelset = LabelSet.open(labelset_path)
    spec = labelset_task(labelset, task)
    root = Path(files_root).resolve()
    images = sorted(labelset.read("images").to_pylist(), key=lambda r: r["image_id"])
    if only is not None:
        unknown = sorted(set(only) - {r["image_id"] for r in images})
        if unknown:
            raise SemcomError(f"{len(unknown)} image(s) are not in {labelset.path} (e.g. {unknown[0]})",
                              hint="push images of this label set only")
        images = [r for r in images if r["image_id"] in set(only)]
    images = images[:sample]
    outside = [r["image_id"] for r in images if not Path(r["path"]).resolve().is_relative_to(root)]
    if outside:
        raise SemcomError(f"{len(outside)} image(s) lie outside the server's file root {root} (e.g. {outside[0]})",
                          hint="start `review serve --files-root` on a folder that holds the dataset")
    objects, triplets = rows_by_image(labelset, "objects"), rows_by_image(labelset, "triplets")
    title = project_title(labelset, spec, round_)
    words = vocabulary(labelset, spec)
    project = find_project(client, title) or client.projects.create(title=title,
                                                                    label_config=labeling_config(labelset, spec))
    folders = sorted({str(Path(r["path"]).resolve().parent) for r in images})
    existing = {s.path for s in client.import_storage.local.list(project=project.id)}
    for folder in folders:
        if folder not in existing:  # Label Studio serves local files only from folders a storage names
            client.import_storage.local.create(project=project.id, path=folder, use_blob_urls=True,
                                               title=f"images {Path(folder).name}")
    there = {t.data.get("image_id") for t in client.tasks.list(project=project.id)}
    version = model_version(labelset)
    new, skipped = [], []
    for image in images:
        if image["image_id"] in there:
            skipped.append(image["image_id"])
            continue
        relative = Path(image["path"]).resolve().relative_to(root)
        result = prediction(image, objects[image["image_id"]], triplets[image["image_id"]], words)
        new.append({"data": {"image": f"/data/local-files/?d={relative}", "image_id": image["image_id"],
                             "round": round_},
                    "predictions": [{"model_version": version, "score": 1.0, "result": result}]})
    if new:
        client.projects.import_tasks(id=project.id, request=new)
    return PushReport(project.id, title, [t["data"]["image_id"] for t in new], skipped)
