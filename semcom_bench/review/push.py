"""``semcom-bench review push``: a label set's images as Label Studio tasks, its labels as predictions.

One project per (label set, task, round), made or reused by title, with :func:`~semcom_bench.review.config.
labeling_config`. Each image is a task (``data``: the image served through Label Studio's local-files storage, its
``image_id`` and the round) with one prediction holding all of its regions: a rectangle per object (region id
``obj-<object_id>``) with its class, the object's importance as a per-region choice, and a relation per triplet
between two objects. ``model_version`` names the labeller, its model and its prompt hash. Pushing twice adds no task
twice: images already in the project are skipped.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semcom_bench.errors import SemcomError
from semcom_bench.review.config import IMPORTANCE_CHOICES, labeling_config
from semcom_bench.schemas import LabelSet

REGION_PREFIX = "obj-"


@dataclass
class PushReport:
    """What a push did: the project, and the images it added and skipped (already there)."""

    project_id: int
    title: str
    added: list[str]
    skipped: list[str]


def model_version(labelset: LabelSet) -> str:
    """``labeler+model+prompt-hash`` of the label set's labeller (``-`` where it has none)."""
    config = labelset.manifest["config"]
    mllm = config.get("mllm") or {}
    prompt = mllm.get("prompt") or mllm.get("prompt_hash")
    digest = hashlib.sha256(json.dumps(prompt, sort_keys=True).encode()).hexdigest()[:8] if prompt else "-"
    return f"{config.get('labeler', '?')}+{mllm.get('model') or '-'}+{digest}"


def project_title(labelset: LabelSet, task: str, round_: int) -> str:
    """The title a push finds its project by (Label Studio allows 50 characters): the label set's and the task's
    names, shortened, the round, and 6 hex digits of the label set's path and task, so two label sets never share
    a project."""
    key = hashlib.sha256(f"{labelset.path.resolve()}|{task}".encode()).hexdigest()[:6]
    return f"{labelset.path.name[:16]}/{task[:16]} r{round_} {key}"


def prediction(image: dict[str, Any], objects: list[dict[str, Any]], triplets: list[dict[str, Any]]) -> list[dict]:
    """The Label Studio ``result`` list of one image: rectangles, importance choices and relations."""
    width, height = image["width"], image["height"]
    result: list[dict[str, Any]] = []
    known = set()
    for obj in objects:
        x0, y0, x1, y1 = obj["bbox"]
        region = f"{REGION_PREFIX}{obj['object_id']}"
        known.add(obj["object_id"])
        common = {"id": region, "to_name": "image", "original_width": width, "original_height": height,
                  "image_rotation": 0}
        box = {"x": 100 * x0 / width, "y": 100 * y0 / height, "width": 100 * (x1 - x0) / width,
               "height": 100 * (y1 - y0) / height, "rotation": 0}
        result.append({**common, "from_name": "objects", "type": "rectanglelabels",
                       "value": {**box, "rectanglelabels": [obj["class_name"]]}})
        if obj["importance"] is not None:
            result.append({**common, "from_name": "importance", "type": "choices",
                           "value": {**box, "choices": [IMPORTANCE_CHOICES[int(obj["importance"])]]}})
    for t in triplets:
        if t["subject_id"] in known and t["object_id"] in known:
            result.append({"type": "relation", "from_id": f"{REGION_PREFIX}{t['subject_id']}",
                           "to_id": f"{REGION_PREFIX}{t['object_id']}", "direction": "right",
                           "labels": [t["predicate"]]})
    return result


def _project(client: Any, title: str, config: str) -> Any:
    for project in client.projects.list():
        if project.title == title:
            return project
    return client.projects.create(title=title, label_config=config)


def push(labelset_path: str | Path, client: Any, task: str, files_root: str | Path, round_: int = 1,
         sample: int | None = None) -> PushReport:
    """Push the label set's images (the first ``sample`` in id order, or all) to the project of ``task`` and
    ``round_``; ``files_root`` is the server's local-files document root, which must hold the images."""
    labelset = LabelSet.open(labelset_path)
    root = Path(files_root).resolve()
    images = sorted(labelset.read("images").to_pylist(), key=lambda r: r["image_id"])[:sample]
    outside = [r["image_id"] for r in images if not Path(r["path"]).resolve().is_relative_to(root)]
    if outside:
        raise SemcomError(f"{len(outside)} image(s) lie outside the server's file root {root} (e.g. {outside[0]})",
                          hint="start `review serve --files-root` on a folder that holds the dataset")
    objects: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in labelset.read("objects").to_pylist():
        objects[row["image_id"]].append(row)
    triplets: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in labelset.read("triplets").to_pylist() if labelset.has("triplets") else []:
        triplets[row["image_id"]].append(row)
    title = project_title(labelset, task, round_)
    project = _project(client, title, labeling_config(labelset))
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
        result = prediction(image, objects[image["image_id"]], triplets[image["image_id"]])
        new.append({"data": {"image": f"/data/local-files/?d={relative}", "image_id": image["image_id"],
                             "round": round_},
                    "predictions": [{"model_version": version, "score": 1.0, "result": result}]})
    if new:
        client.projects.import_tasks(id=project.id, request=new)
    return PushReport(project.id, title, [t["data"]["image_id"] for t in new], skipped)
